"""`milp-recourse fit-scm`: an SCM spec fitted from a data table and a causal graph (or independent features).

Reads CSV/Parquet, fits the model of scm/fit.py, validates the spec by loading it back, and only then
writes it (YAML or JSON by the suffix of --out); any bad input is an error with nothing written.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from milp_recourse.cli import parse as cp
from milp_recourse.errors import InputError
from milp_recourse.files import temp_beside

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def add_parser(sub) -> None:
    p = sub.add_parser("fit-scm", help="fit an SCM spec from a data table and a DAG (or independent features)",
                       description="Fit an SCM from data: nodes without parents are their own noise (bernoulli "
                                   "for 0/1 columns, categorical for text columns, uniform over the padded range "
                                   "otherwise); continuous nodes with parents are linear in them (least squares; a "
                                   "categorical parent through one indicator per level) with normal noise of the "
                                   "residual std; 0/1 nodes with parents are threshold models (a logistic "
                                   "regression; abduction: the noise's posterior median given the value). Text columns "
                                   "become categorical with their sorted levels "
                                   "(--ordinal gives an order) and must be roots. Column names are kept as they "
                                   "are.")
    p.add_argument("--data", required=True, help="CSV or Parquet table, one column per feature")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dag", help="text file with one edge per line, 'parent -> child' ('#' comments)")
    src.add_argument("--independent", action="store_true", help="no causal graph: every column is a root")
    p.add_argument("--immutable", help="comma-separated columns that cannot be changed")
    p.add_argument("--increase-only", help="comma-separated columns that can only go up")
    p.add_argument("--decrease-only", help="comma-separated columns that can only go down")
    p.add_argument("--sensitive", help="comma-separated sensitive columns (for audits)")
    p.add_argument("--continuous", help="comma-separated integer or 0/1 columns to model as continuous "
                                        "(needed for such columns with parents)")
    p.add_argument("--piecewise", help="CHILD=PARENT:K,...: fit CHILD piecewise linear in PARENT with K knots at "
                                       "quantiles of PARENT (relu terms; default: linear)")
    p.add_argument("--ordinal", action="append", default=[], metavar="COL=L1<L2<...",
                   help="an ordinal text column with its levels, lowest first (repeatable), e.g. "
                        "'education=HS-grad<Bachelors<Masters'")
    p.add_argument("--label", help="the label column: left out of the SCM")
    p.add_argument("--pad", type=float, default=0.05,
                   help="domain = data range widened by PAD x range on each side (default 0.05)")
    p.add_argument("--name", help="SCM name (default: the stem of --out)")
    p.add_argument("--out", required=True, help="spec file to write (.yaml, .yml or .json)")
    p.set_defaults(func=run)


def _read_data(path: str):
    from milp_recourse.tables import read_table

    return read_table(path, "--data", text=True)


def _piecewise(text: str | None) -> dict[str, tuple[str, int]]:
    """'income=hours:3' -> {'income': ('hours', 3)}."""
    out = {}
    for child, value in cp.pairs(text, "--piecewise").items():
        parent, sep, k = value.rpartition(":")
        if not sep or not parent.strip() or not k.strip().isdigit():
            raise InputError(f"--piecewise {child}: expected PARENT:K (K knots, e.g. {child}=age:3); got {value!r}.")
        out[child] = (parent.strip(), int(k))
    return out


def _ordinal(items: list[str]) -> dict[str, tuple[str, ...]]:
    """['edu=HS<BSc<MSc'] -> {'edu': ('HS', 'BSc', 'MSc')}."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        col, sep, order = item.partition("=")
        levels = tuple(v.strip() for v in order.split("<"))
        if not sep or not col.strip() or len(levels) < 2 or not all(levels):
            raise InputError(f"--ordinal: expected COL=L1<L2<... (at least two levels, lowest first); got {item!r}.")
        if len(set(levels)) != len(levels):
            raise InputError(f"--ordinal {col.strip()}: a level is listed twice in {order!r}.")
        if col.strip() in out:
            raise InputError(f"--ordinal: column {col.strip()!r} is given twice.")
        out[col.strip()] = levels
    return out


def _write_atomic(out: Path, text: str) -> None:
    """Write via a temporary file in the same folder, so a failure never leaves a partial spec."""
    fd, tmp = temp_beside(out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    import yaml

    from milp_recourse.scm.dag import read_dag
    from milp_recourse.scm.fit import FitSettings, fit_scm_spec
    from milp_recourse.scm.spec import scm_from_dict, scm_to_dict

    out = Path(args.out)
    if out.suffix.lower() not in SPEC_SUFFIXES:
        raise InputError(f"--out must end in .yaml, .yml or .json; got {args.out!r}.")
    if not out.parent.exists():
        raise InputError(f"--out: the folder {str(out.parent)!r} does not exist.")
    if out.is_dir():
        raise InputError(f"--out {args.out!r} is a folder; expected a file name ending in .yaml, .yml or .json.")
    frame = _read_data(args.data)
    settings = FitSettings(immutable=cp.name_list(args.immutable) or (),
                           increase_only=cp.name_list(args.increase_only) or (),
                           decrease_only=cp.name_list(args.decrease_only) or (),
                           continuous=cp.name_list(args.continuous) or (),
                           sensitive=cp.name_list(args.sensitive) or (), label=args.label, pad=args.pad,
                           piecewise=_piecewise(args.piecewise), ordinal=_ordinal(args.ordinal))
    columns = [str(c) for c in frame.columns if str(c) != args.label]
    dag = None if args.independent else read_dag(args.dag, columns)
    scm = scm_from_dict(fit_scm_spec(frame, dag, args.name or out.stem, settings))
    spec = scm_to_dict(scm)
    text = json.dumps(spec, indent=2) + "\n" if out.suffix.lower() == ".json" else \
        yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=120)
    reloaded = scm_from_dict(json.loads(text) if out.suffix.lower() == ".json" else yaml.safe_load(text))
    if scm_to_dict(reloaded) != spec:
        raise InputError("The fitted spec does not survive a write/read round trip; nothing written.")
    _write_atomic(out, text)
    roots = sum(1 for v in scm.variables if not scm.parents(v.name))
    print(f"wrote {out}: {scm.dim} variables ({roots} roots, {scm.dim - roots} with fitted equations), "
          f"{len(frame)} rows")
    for v, entry in zip(scm.variables, spec["variables"]):
        where = f"{len(v.levels)} levels" if v.levels else f"[{v.lower:g}, {v.upper:g}]"
        print(f"  {v.name}: {v.kind} {where} {v.actionability}  = {entry['equation']}  "
              f"({entry['noise']['dist']} noise)")
    return 0
