"""Badly scaled linear worlds on the MILP path: features in units far apart, domains widened, prices far apart.

Random linear-Gaussian SCMs with a linear score (tests/linear_worlds.py), solved with closed_form=False, every
answer checked against the exact optimum by enumeration of intervention sets in natural units (scipy's linprog,
or a closed form at p = 2; a case whose closed form a domain binds is skipped). Per mode: how many answers are
OPTIMAL at the reference (within the default relative gap, 1e-4), OPTIMAL above it (wrong), FEASIBLE or
otherwise, and the median seconds. With --before SRC (e.g. `git archive <rev> | tar -x -C /tmp/before`) the same
cases run on that code too, in a subprocess. Writes bench/results/badly_scaled.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from common import ROOT, machine, markdown_table, write_jsonl

TESTS = ROOT / "tests"
MODES = ("units", "widen", "uneven")
MARGIN = 1e-6   # the package's default score margin for a strict threshold
GAP = 1e-4      # the package's default relative optimality gap (SolveOptions.mip_gap): OPTIMAL means within it


def cases(mode: str, seeds: int):
    """(seed, person, p, world, person, units, widths) of every case of one mode."""
    from linear_worlds import scaled_cases

    for seed in range(seeds):
        for k, p, world, x, units, widen in scaled_cases(mode, seed):
            yield seed, k, p, world, x, units, widen


def measure(mode: str, seeds: int) -> list[dict]:
    """Solve every case of a mode with the milp_recourse on sys.path: status, cost, seconds."""
    from linear_worlds import problem

    from milp_recourse import solve

    import milp_recourse

    src = Path(os.environ.get("PYTHONPATH", str(ROOT)).split(os.pathsep)[0]).resolve()
    if not Path(milp_recourse.__file__).resolve().is_relative_to(src):
        sys.exit(f"imported milp_recourse from {milp_recourse.__file__}, not the tree under test {src}")
    out = []
    for seed, k, p, world, x, units, widen in cases(mode, seeds):
        t = time.perf_counter()
        r = solve(problem(world, x, p, units, widen))
        out.append({"seed": seed, "person": k, "p": p, "status": r.status.value, "cost": r.cost,
                    "seconds": time.perf_counter() - t})
    return out


def references(mode: str, seeds: int) -> dict[tuple, float | None]:
    """The exact optimum of every case (None where a domain binds a p = 2 closed form)."""
    from linear_worlds import exact_optimum

    ref: dict[tuple, float | None] = {}
    for seed, k, p, world, x, _units, widen in cases(mode, seeds):
        try:
            ref[(seed, k, p)] = exact_optimum(world, x, p, widen, margin=MARGIN)
        except ValueError:
            ref[(seed, k, p)] = None
    return ref


def tally(code: str, mode: str, runs: list[dict], ref: dict[tuple, float | None]) -> dict:
    counts = {"optimal_at_ref": 0, "optimal_above": 0, "feasible": 0, "other": 0}
    secs = []
    for r in runs:
        want = ref[(r["seed"], r["person"], r["p"])]
        if want is None:
            continue
        secs.append(r["seconds"])
        if r["status"] == "OPTIMAL":
            close = abs(r["cost"] - want) <= GAP * want + 1e-12
            counts["optimal_at_ref" if close or r["cost"] < want else "optimal_above"] += 1
        elif r["status"] == "FEASIBLE":
            counts["feasible"] += 1
        else:
            counts["other"] += 1
    return {"code": code, "mode": mode, "cases": len(secs), **counts,
            "median_s": statistics.median(secs) if secs else float("nan")}


def run_tree(src: Path, mode: str, seeds: int) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(TESTS), str(Path(__file__).parent)]),
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", mode, "--seeds", str(seeds)],
                          env=env, capture_output=True, text=True, check=False, cwd=str(src))
    if done.returncode != 0:
        sys.exit(f"run failed ({src}, {mode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=40, help="random worlds per mode (default 40; 4 cases each)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    ap.add_argument("--before", type=Path, default=None, help="a source tree to compare with")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)   # internal: one tree's runs, JSON on stdout
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.measure:   # the package from PYTHONPATH's first entry (the tree under test; common.py put ROOT first)
        src = Path(os.environ["PYTHONPATH"].split(os.pathsep)[0]).resolve()
        sys.path[:] = [str(src)] + [p for p in sys.path if Path(p or ".").resolve() not in (ROOT, src)]
        print(json.dumps(measure(args.measure, args.seeds)))
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        ap.error(f"unknown mode {bad[0]!r} in --modes; expected one of {', '.join(MODES)}")
    if args.seeds < 1:
        ap.error(f"--seeds {args.seeds}; expected at least 1")
    if args.before is not None and not (args.before / "milp_recourse").is_dir():
        ap.error(f"--before {args.before}: no milp_recourse package there; expected a source tree")
    trees = ([("before", args.before.resolve())] if args.before else []) + [("after", ROOT)]
    rows = []
    for mode in modes:
        ref = references(mode, args.seeds)
        for label, src in trees:
            rows.append(tally(label, mode, run_tree(src, mode, args.seeds), ref))
            print(markdown_table([rows[-1]], list(rows[-1])).splitlines()[-1], flush=True)
    write_jsonl(ROOT / "bench" / "results" / "badly_scaled.jsonl",
                [{"machine": machine(), "seeds": args.seeds, "before": str(args.before or "")}] + rows)
    print(markdown_table(rows, ["code", "mode", "cases", "optimal_at_ref", "optimal_above", "feasible", "other",
                                "median_s"]))


if __name__ == "__main__":
    sys.path.insert(0, str(TESTS))
    main()
