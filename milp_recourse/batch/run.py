"""solve_batch: recourse for every denied individual of a table, in parallel, resumable.

One row per individual of the data (in the data's order; with `n_options` K > 1, up to K rows per individual,
one per ranked option, with its rank in an `option` column after `id`): `id`, the result columns of
batch_worker.RESULT_COLUMNS (status, cost, verified, gap, objective_bound, seconds (wall),
cpu_seconds, n_changed, changed, actionable, action and counterfactual as JSON, certificate summary as
JSON, message), then the data's own columns (so an audit can group by any of them).

- Only denied individuals are solved. The others are checked with the classifier in one vectorised
  call and get status ALREADY_FAVOURABLE (cost 0, counterfactual = factual) without solving.
- Every input is validated before any solving: missing or non-numeric feature columns, missing values,
  levels a categorical / ordinal feature does not have, values outside the SCM's domains, duplicated ids,
  the profiles (see profiles.py), the engine, an existing output.
- Categorical / ordinal features may be given by level name (or code); action and counterfactual JSON hold
  level names for them.
- The per-individual time limit is `options.time_limit` (the solver's deadline). A hard limit
  (`hard_time_limit`, default 2 x time_limit + 30 s) caps it: the solver gets at most HARD_SHARE of the
  hard limit, so it stops in time and keeps the verified incumbent it found (FEASIBLE with its bound);
  SIGALRM at the hard limit itself stops a runaway individual where it is usable (local engine, Ray),
  and that row becomes UNKNOWN. Any exception becomes that row's ERROR status.
- Workers get plain, picklable data: the SCM spec dict (scm_to_dict), the classifier object, the
  CostSpec / SolveOptions and Tasks. The core solver compiles per individual (the model depends on
  the person's incumbent and LP-tightened bounds), so nothing compiled is shipped.
- Without `id_column` the id is the 0-based row number of the data.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from milp_recourse.batch.fingerprint import build_fingerprint, check_resume, write_meta
from milp_recourse.batch.worker import RESULT_COLUMNS, Task, effective_actionable, failure_fields
from milp_recourse.models.classifiers import classifier_features, favourable, validate_for_scm
from milp_recourse.errors import InputError
from milp_recourse.problem.constraints_check import check_constraints
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions
from milp_recourse.batch.profiles import id_key, load_profiles
from milp_recourse.scm.spec import scm_to_dict
from milp_recourse.tables import as_table

ID = "id"
OPTION = "option"   # the rank column of a run with n_options > 1
# people per chunk at most (a chunk is one solve_many call: its lock-step box searches, kept relaxation and SCM plans
# are shared only within it). CARMA network, 2 364 people, 2 workers, interleaved: 101.9 / 99.9 people/s wall at
# 128 against 99.0 / 94.2 at 32; after box-search people stopped being compiled, 64 and 128 ran alike (122.4 / 124.8
# vs 121.9 / 128.3) and 64 peaks at 281 MB per worker against 301 MB (bench/bench_memory.py --chunk-size)
MAX_CHUNK = 64
HARD_SHARE = 0.8  # share of the hard time limit given to the solver's own time limit


def _load_inputs(scm: Any, classifier: Any) -> tuple[Any, Any]:
    """The SCM and classifier objects (loaded when given by name); a classifier object trained on the level names
    of categorical / ordinal columns is read through them, as RecourseProblem does (models/recipes.bind_levels)."""
    from milp_recourse.models.recipes import bind_levels, load_model
    from milp_recourse.scm import load_scm

    scm = load_scm(scm) if isinstance(scm, str) else scm
    classifier = load_model(str(classifier), scm) if isinstance(classifier, str) else bind_levels(classifier, scm)
    validate_for_scm(classifier, scm.names)
    classifier_features(classifier, scm.names)
    return scm, classifier


def _features(data: pd.DataFrame, scm) -> np.ndarray:
    """The data's feature matrix in SCM order, checked against the SCM's domains."""
    names = list(scm.names)
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise InputError(f"The data lacks feature column(s) {missing}; the SCM {scm.name!r} needs "
                         f"{', '.join(names)} (it has {', '.join(map(str, data.columns))}).")
    for n in names:
        if not pd.api.types.is_numeric_dtype(data[n]) and not pd.api.types.is_bool_dtype(data[n]):
            bad = data[n][pd.to_numeric(data[n], errors="coerce").isna()].head(3).tolist()
            raise InputError(f"The data column {n!r} must be numeric; found values like {bad}.")
    X = data[names].to_numpy(dtype=float)
    ok = scm.within_domain(X) if len(X) else np.zeros(0, bool)
    if not np.all(ok):
        rows = np.flatnonzero(~np.asarray(ok))
        try:
            scm.validate_individual(X[rows[0]])
            detail = "not integral where the SCM requires it"
        except InputError as exc:
            detail = str(exc).rstrip(".")
        raise InputError(f"{len(rows)} individual(s) of the data are invalid (data row(s) "
                         f"{', '.join(str(int(r)) for r in rows[:5])}{', ...' if len(rows) > 5 else ''}), e.g. row "
                         f"{int(rows[0])}: {detail}. Nothing was solved: drop or correct those rows (held-out data can "
                         "leave the SCM's domains; widen them in the spec if the values are legitimate).")
    return X


def coded_features(data: pd.DataFrame, scm: Any) -> pd.DataFrame:
    """The data with its categorical / ordinal feature columns (level names or codes) as codes; missing values in
    a feature column are refused, naming the column, how many rows and the first one."""
    from milp_recourse.scm.levels import encode_levels

    for n in scm.names:
        if n in data.columns and data[n].isna().any():
            rows = np.flatnonzero(data[n].isna().to_numpy())
            raise InputError(f"The data column {n!r} has {rows.size} missing value(s) (e.g. data row "
                             f"{int(rows[0])}); the solver needs every feature of every person. Drop those rows "
                             "(pandas: frame.dropna(subset=[...])) or impute them first.")
    if not any(v.levels for v in scm.variables):
        return data
    return encode_levels(scm, data)


def level_names(scm: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """A result row with the action / counterfactual JSON holding level names for categorical / ordinal features
    (the package solves on codes; users read names)."""
    import json

    from milp_recourse.scm.levels import raw_values

    if not any(v.levels for v in scm.variables):
        return fields
    out = dict(fields)
    for c in ("action", "counterfactual"):
        text = out.get(c)
        if isinstance(text, str) and text not in ("", "{}"):
            out[c] = json.dumps(raw_values(scm, json.loads(text)), separators=(",", ":"), allow_nan=False)
    return out


def _ids(data: pd.DataFrame, id_column: str | None) -> list[Any]:
    if id_column is None:
        return list(range(len(data)))
    if id_column not in data.columns:
        raise InputError(f"The id column {id_column!r} is not in the data; it has {', '.join(map(str, data.columns))}.")
    ids = data[id_column].tolist()
    keys = pd.Series([id_key(i) for i in ids])
    empty = np.flatnonzero(keys.isin(["nan", "None", "<NA>", ""]).to_numpy())
    if empty.size:
        raise InputError(f"The id column {id_column!r} must hold non-empty ids; {empty.size} row(s) have none, "
                         f"e.g. row(s) {', '.join(map(str, empty[:5].tolist()))}.")
    dup = sorted(set(keys[keys.duplicated()]))
    if dup:
        raise InputError(f"The id column {id_column!r} must hold unique ids; duplicated: {dup[:10]}.")
    return ids


def _chunks(tasks: list[Task], workers: int, chunk_size: int | None) -> list[list[Task]]:
    if chunk_size is None:
        chunk_size = max(1, min(MAX_CHUNK, math.ceil(len(tasks) / (8 * workers))))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size must be an integer >= 1. Got {chunk_size!r}.")
    return [tasks[i:i + chunk_size] for i in range(0, len(tasks), chunk_size)]


def _favourable_fields(scm, x: np.ndarray, acts: tuple[str, ...]) -> dict[str, Any]:
    """The row of an individual the classifier already approves (what solve() returns, without solving)."""
    import json

    return {"status": "ALREADY_FAVOURABLE", "cost": 0.0, "verified": True, "gap": 0.0, "objective_bound": 0.0,
            "seconds": 0.0, "cpu_seconds": 0.0, "n_changed": 0, "changed": "", "actionable": ";".join(acts),
            "action": "{}",
            "counterfactual": json.dumps(dict(zip(scm.names, map(float, x))), separators=(",", ":")),
            "certificate": "", "message": "Not solved: the factual decision is already favourable.",
            "path": "[]", "path_reasons": "{}"}


def _previous_results(store: Any, keys: list[str], extra: Sequence[str] = (), frame: pd.DataFrame | None = None,
                      data_cols: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
    """Result rows (result columns and `extra`, e.g. the option rank) of the individuals an earlier run finished,
    by id key (checked against the data: the ids, and each finished person's data values, must be this run's)."""
    old = store.load()
    old_keys = [id_key(v) for v in old[ID]]
    unknown = sorted(set(old_keys) - set(keys))
    if unknown:
        raise InputError(f"The existing output {str(store.path)!r} has {len(unknown)} id(s) not in this data, "
                         f"e.g. {unknown[:5]}; resume with the same data, --id-column and --limit.")
    if frame is not None and data_cols:
        _check_same_data(store, old, old_keys, dict(zip(keys, frame[list(data_cols)].to_dict("records"))), data_cols)
    results: dict[str, list[dict[str, Any]]] = {}
    for k, rec in zip(old_keys, normalize_results(old).to_dict("records")):
        results.setdefault(k, []).append({c: rec[c] for c in (*extra, *RESULT_COLUMNS)})
    if not extra:   # one row per individual (a repeated id keeps its first row, as before options existed)
        results = {k: rows[:1] for k, rows in results.items()}
    return results


def _check_same_data(store: Any, old: pd.DataFrame, old_keys: list[str], now: Mapping[str, Mapping[str, Any]],
                     data_cols: Sequence[str]) -> None:
    """InputError when a finished person's data row differs from this run's (their result would be glued to
    values it was not computed for: an outside fuzz resumed onto data with one person's I, S changed)."""
    changed = []
    for k, rec in zip(old_keys, old[list(data_cols)].to_dict("records")):
        diff = [c for c in data_cols if not _same_cell(rec[c], now[k][c])]
        if diff:
            changed.append(f"id {k}: " + ", ".join(f"{c} {rec[c]!r} -> {now[k][c]!r}" for c in diff[:3]))
    if changed:
        raise InputError(f"The existing output {str(store.path)!r} was computed from other data for "
                         f"{len(changed)} finished id(s) ({'; '.join(changed[:3])}); resume with the same data, "
                         "or choose another output file.")


def _same_cell(a: Any, b: Any) -> bool:
    """Equal as numbers (to 1e-12 relative: a file round trip) or, failing that, as text; two gaps are equal."""
    gap_a, gap_b = _is_gap(a), _is_gap(b)
    if gap_a or gap_b:
        return gap_a and gap_b
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return str(a).strip() == str(b).strip()
    return math.isclose(fa, fb, rel_tol=1e-12, abs_tol=0.0)


def _is_gap(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def normalize_results(frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed dtypes for the result columns (files read back give NaN for empty text, etc.)."""
    out = frame.copy()
    for c in ("cost", "gap", "objective_bound", "seconds", "cpu_seconds"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    out["n_changed"] = pd.to_numeric(out["n_changed"], errors="coerce").fillna(0).astype(int)
    if OPTION in out.columns:
        out[OPTION] = pd.to_numeric(out[OPTION], errors="coerce").fillna(1).astype(int)
    out["verified"] = out["verified"].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
    for c in ("status", "changed", "actionable", "action", "counterfactual", "certificate", "message"):
        out[c] = out[c].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    out.loc[out["action"] == "", "action"] = "{}"
    out.loc[out["counterfactual"] == "", "counterfactual"] = "{}"
    return out


def solve_batch(scm: Any, classifier: Any, data: Any, profiles: Any = None, *,
                actionability: Actionability | None = None, preferences: Preferences | None = None,
                cost: CostSpec | None = None, options: SolveOptions | None = None, engine: str = "local",
                workers: int = 1, address: str | None = None, out: Any = None, resume: bool = False,
                id_column: str | None = None, limit: int | None = None, chunk_size: int | None = None,
                profile_seed: int = 0, ranking_map: str = "rank", score_map: str = "identity",
                hard_time_limit: float | None = None,
                progress: bool | Callable[[int, int], Any] | None = None,
                classifier_source: str | None = None, n_options: int = 1) -> pd.DataFrame:
    """Recourse for every denied individual of `data` (DataFrame or CSV/Parquet path); one row each, or with
    `n_options` > 1 one row per ranked option (solver/options.py) with its rank in an `option` column.

    `classifier_source` (a recipe name or file path) names the classifier in the results' fingerprint
    when `classifier` is given as an object (default: a hash of the pickled object).
    """
    from milp_recourse.backends import get_backend
    from milp_recourse.batch.engines import Abandoned, check_engine, run_chunks
    from milp_recourse.batch.progress import Progress
    from milp_recourse.batch.resume import ResultStore
    from milp_recourse.solver.options import check_options

    # ---- validate everything before any solving
    check_engine(engine, workers, address)
    n_options = check_options(n_options)
    extra = [OPTION] if n_options > 1 else []
    act, prefs = actionability or Actionability(), preferences or Preferences()
    cost, options = cost or CostSpec(), options or SolveOptions()
    if isinstance(options.seed, bool) or not isinstance(options.seed, int) or options.seed < 0:
        raise InputError(f"The 'seed' option must be an integer >= 0. Got {options.seed!r}.")
    base_options = options
    if workers > 1:  # the workers already share the cores: one tightening thread and one stage at a time each
        options = dataclasses.replace(options, tighten_threads=1, stage_threads=1)
    get_backend(options.backend)
    source = classifier_source if classifier_source is not None else classifier
    scm, classifier = _load_inputs(scm, classifier)
    frame = as_table(data, "data")
    if len(frame) == 0:
        raise InputError(f"The data has no rows (only the header {', '.join(map(str, frame.columns)) or '(none)'}); "
                         "expected one row per individual.")
    known_ids = None   # with a limit: the whole data's ids, which a profiles table may name
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise InputError(f"limit must be an integer >= 0. Got {limit!r}.")
        known_ids = (list(range(len(frame))) if id_column is None or id_column not in frame.columns
                     else frame[id_column].tolist())
        frame = frame.iloc[:limit]
    frame = frame.reset_index(drop=True)
    ids = _ids(frame, id_column)
    X = _features(coded_features(frame, scm), scm)   # level names -> codes; the output keeps the names
    data_cols = [str(c) for c in frame.columns if c != id_column]
    clash = sorted(set(data_cols) & ({ID, *extra} | set(RESULT_COLUMNS)))
    if clash:
        hint = " (pass id_column='id' / --id-column id if it holds the ids)" if ID in clash else ""
        raise InputError(f"The data has column(s) {clash} that the results use; rename them{hint}.")
    columns = [ID, *extra, *RESULT_COLUMNS, *data_cols]
    keys = [id_key(i) for i in ids]
    spec_actionable = [v.name for v in scm.variables if v.actionability != "immutable"]
    # a Task constructs the person's RecourseProblem on the worker; check the base once here
    from milp_recourse.problem.recourse_problem import RecourseProblem

    if len(X):
        RecourseProblem(scm, classifier, X[0], actionability=act, preferences=prefs, cost=cost, options=options)
    check_constraints(scm, act, classifier, options.threshold)
    profs = load_profiles(profiles, ids, scm, id_column or ID, act, prefs, profile_seed, ranking_map, score_map,
                          known_ids=known_ids)
    store = ResultStore(out, columns, resume) if out is not None else None
    if store is not None:
        store.check()
    if hard_time_limit is None:
        hard_time_limit = 2.0 * options.time_limit + 30.0
    elif isinstance(hard_time_limit, bool) or not (isinstance(hard_time_limit, (int, float))
                                                   and 0 < hard_time_limit < math.inf):
        raise InputError(f"hard_time_limit must be a finite number > 0 (seconds). Got {hard_time_limit!r}.")
    # the solver itself stops before the hard limit, so the row ends FEASIBLE with the incumbent it found
    # (SIGALRM at the hard limit would discard it); the margin covers the solver's overrun and the re-check
    solver_limit = HARD_SHARE * float(hard_time_limit)
    if options.time_limit > solver_limit:
        options = dataclasses.replace(options, time_limit=solver_limit)

    fingerprint = build_fingerprint(
        scm_spec=scm_to_dict(scm), classifier=source, profiles=profiles,
        inputs={"id_column": id_column, "profile_seed": profile_seed if profiles is not None else None,
                "ranking_map": ranking_map, "score_map": score_map, "actionability": act, "preferences": prefs,
                "cost": cost, "options": base_options, "hard_time_limit": hard_time_limit,
                **({"options_per_person": n_options} if n_options > 1 else {})})
    if store is not None and resume:
        check_resume(store.path, fingerprint, store.has_rows())

    # ---- earlier runs' rows
    results = _previous_results(store, keys, extra, frame, data_cols) if store is not None and resume else {}

    # ---- the classifier's decisions, then the people to solve
    feats = list(classifier_features(classifier, scm.names))
    idx = [scm.index(f) for f in feats]
    fav = favourable(classifier, X[:, idx], options.threshold, options.target_class) if len(X) else []
    per_person: dict[str, tuple[Actionability, Preferences]] = {}
    for k in keys:
        prof = profs.get(k)
        per_person[k] = prof.apply(act, prefs, spec_actionable, ranking_map, score_map) if prof else (act, prefs)
        if prof:
            try:
                check_constraints(scm, per_person[k][0], actionable_only=False)
            except InputError as exc:
                raise InputError(f"The profile of id {k!r}: {exc}") from None
    fresh_fav = {}
    tasks = []
    for k, x, f in zip(keys, X, fav):
        if k in results:
            continue
        if f:
            fresh_fav[k] = _favourable_fields(scm, x, effective_actionable(scm, per_person[k][0]))
        else:
            tasks.append(Task(k, tuple(map(float, x)), *per_person[k]))
    chunks = _chunks(tasks, workers, chunk_size)
    context = {"scm": scm_to_dict(scm), "classifier": classifier, "cost": cost, "options": options,
               "hard_seconds": float(hard_time_limit), "n_options": n_options}

    # ---- solve, writing each finished chunk
    id_of = dict(zip(keys, ids))
    records = dict(zip(keys, frame[data_cols].to_dict("records")))

    def full_rows(key: str) -> list[dict[str, Any]]:
        return [{ID: id_of[key], **row, **records[key]} for row in results[key]]

    def commit(fields: list[dict[str, Any]]) -> None:
        fresh: dict[str, list[dict[str, Any]]] = {}   # a person's rows (one per option) arrive together
        for f in map(lambda f: level_names(scm, f), fields):
            fresh.setdefault(f["key"], []).append({**{c: f.get(c, 1) for c in extra},
                                                  **{c: f[c] for c in RESULT_COLUMNS}})
        results.update(fresh)
        if store is not None:
            store.append([row for k in fresh for row in full_rows(k)])

    stream = run_chunks(engine, context, chunks, workers, address)  # engine up (or error) before any write
    if store is not None and not (resume and store.has_rows()):
        write_meta(store.path, fingerprint)  # what produced the rows, before the first row
    try:
        commit([dict(v, key=k) for k, v in fresh_fav.items()])
        with Progress(progress, len(tasks)) as bar:
            for i, rows in stream:
                if isinstance(rows, Abandoned):
                    rows = [dict(failure_fields("UNKNOWN", f"The hard time limit of {hard_time_limit:g} s per "
                                                f"individual was reached: {rows}",
                                                effective_actionable(scm, t.actionability), 0.0),
                                 key=t.key) for t in chunks[i]]
                elif isinstance(rows, Exception):
                    msg = f"The worker running this chunk failed: {type(rows).__name__}: {rows}"
                    rows = [dict(failure_fields("ERROR", msg, effective_actionable(scm, t.actionability), 0.0),
                                 key=t.key) for t in chunks[i]]
                commit(rows)
                bar.update(len(rows))
    finally:
        if hasattr(stream, "close"):
            stream.close()

    result = pd.DataFrame([row for k in keys if k in results for row in full_rows(k)], columns=columns)
    result = normalize_results(result)
    if store is not None:
        store.finish(result)
    return result


def result_summary(frame: pd.DataFrame) -> Mapping[str, int]:
    """Counts of each status (for the CLI's closing line)."""
    return {str(k): int(v) for k, v in frame["status"].value_counts().sort_index().items()}


__all__ = ["solve_batch", "normalize_results", "result_summary", "coded_features", "level_names"]
