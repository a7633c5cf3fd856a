"""Issue 16 memory: peak RSS of `import milp_recourse`, of one `solve` and of `milp-recourse batch --workers 1`
on Loan + the CARMA ReLU network, measured from outside (psutil polling the whole process tree, plus the
child's own VmHWM, written at exit), so the per-worker footprint of a batch is a number, not a guess.

`--what-if-chunk K` repeats the runs with the box search's score bound evaluated K boxes at a time (patched
in the child process only, never shipped from here): the peak comes from bounding a whole breadth-first front
of boxes at once (arrays of boxes x 2 x width x width floats), and this shows what bounding it in slices saves.
peak_mb = max(polled tree peak, the child's VmHWM) (polling can miss a short peak such as the import). The kernel's
ru_maxrss from wait4 is not used: Linux carries the parent's high-water mark across fork/exec into it, so a bench parent
holding 250 MB made a bare `pass` child read 250 MB (it was this bench's "import milp_recourse 264 MB").
Writes bench/results/memory.jsonl and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from common import ROOT, data_dir, machine, markdown_table, write_jsonl

PY = sys.executable

# Child-side code: optionally slice the box search's score bound, then run the given statement.
PATCH = """
import numpy as np
import milp_recourse.solver.box_search as _bs
from milp_recourse.bounds.relu_bounds import ScoreBound, score_upper_bound as _sub
def _sliced(layers, S, o, r, lo, hi, _k={k}):
    if len(lo) <= _k:
        return _sub(layers, S, o, r, lo, hi)
    parts = [_sub(layers, S[i:i + _k], o[i:i + _k], r[i:i + _k], lo[i:i + _k], hi[i:i + _k])
             for i in range(0, len(lo), _k)]
    return ScoreBound(*(np.concatenate([getattr(p, f) for p in parts]) for f in ('g', 'h', 'top')))
_bs.score_upper_bound = _sliced
"""

SOLVE = """
import sys, json
import pandas as pd
from milp_recourse import CostSpec, RecourseProblem, load_scm, solve
from milp_recourse.models.classifiers import ReLUNetwork
d = {data!r}
net, scm = ReLUNetwork.from_npz(d + "/classifier_mlp.npz"), load_scm("loan")
row = pd.read_csv({people!r}).iloc[{row}][list(scm.names)].to_dict()
r = solve(RecourseProblem(scm, net, row, cost=CostSpec(p=2)))
print(json.dumps({{"status": r.status.value, "cost": r.cost, "backend": r.backend}}))
"""

# Child-side prologue: at exit, write this process's own peak RSS (VmHWM, reset by exec) to the given file.
HWM = """
import atexit as _ax
def _hwm(_p={path!r}):
    with open('/proc/self/status') as _f:
        _kb = next(int(_l.split()[1]) for _l in _f if _l.startswith('VmHWM:'))
    with open(_p, 'w') as _o:
        _o.write(str(_kb))
_ax.register(_hwm)
"""

BATCH = """
import sys
from milp_recourse.cli.main import main
sys.exit(main({argv!r}))
"""


def peak_rss(code: str, cwd: Path) -> dict:
    """Run `python -c code` in a child: peak RSS of its process tree (polled every 10 ms) and its own VmHWM."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    hwm_file = Path(tempfile.mkstemp(suffix=".hwm")[1])
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([PY, "-c", HWM.format(path=str(hwm_file)) + code], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        ps, peak = psutil.Process(proc.pid), 0
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                peak = max(peak, sum(p.memory_info().rss for p in [ps] + ps.children(recursive=True)))
            except psutil.Error:
                pass
            time.sleep(0.01)
        out.seek(0)
        text = out.read().decode(errors="replace").strip()
    hwm_kb = int(hwm_file.read_text() or 0)
    hwm_file.unlink()
    return {"rc": os.waitstatus_to_exitcode(status), "seconds": round(time.perf_counter() - t, 2),
            "peak_tree_mb": round(peak / 2**20, 1), "vmhwm_mb": round(hwm_kb / 1024, 1),
            "tail": text.splitlines()[-1][:160] if text else ""}


def denied_csv(n: int, folder: Path) -> Path:
    """The first n denied rows of CARMA's recourse_test.csv, as a CSV in `folder`."""
    import numpy as np
    import pandas as pd

    from milp_recourse import load_scm
    from milp_recourse.models.classifiers import ReLUNetwork

    d = data_dir() / "carma-loan"
    net, scm = ReLUNetwork.from_npz(d / "classifier_mlp.npz"), load_scm("loan")
    test = pd.read_csv(d / "recourse_test.csv")
    den = np.flatnonzero(net.predict(test[list(scm.names)].to_numpy(float)) == 0)[:n]
    path = folder / f"carma_denied_{n}.csv"
    test.iloc[den].to_csv(path, index=False)
    return path


def runs(args, folder: Path) -> list[tuple[str, str]]:
    """(label, child code) of every measurement."""
    d = str(data_dir() / "carma-loan")
    people = denied_csv(max(args.batch + [max(args.rows, default=0) + 1]), folder)
    out = [("import milp_recourse", "import milp_recourse")]
    out += [(f"solve, denied #{r}", SOLVE.format(data=d, people=str(people), row=r)) for r in args.rows]
    for n in args.batch:
        csv = denied_csv(n, folder)
        argv = ["batch", "--scm", "loan", "--classifier", d + "/classifier_mlp.npz", "--data", str(csv),
                "--out", str(folder / f"out_{n}.csv"), "--workers", "1", "--cost-p", "2", "--no-progress"]
        if args.chunk_size:
            argv += ["--chunk-size", str(args.chunk_size)]
        out.append((f"batch --workers 1, first {n} denied", BATCH.format(argv=argv)))
    return out


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def batch_statuses(folder: Path) -> str:
    """Status counts of the batch results file just written (the CLI's last line is a table border)."""
    import pandas as pd

    outs = list(folder.glob("out_*.csv"))
    if not outs:
        return ""
    counts = pd.read_csv(outs[0])["status"].value_counts()
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=ints, default=[0, 55],
                    help="denied people to `solve` one each (default 0,55; #55 is the one the box search gives up on)")
    ap.add_argument("--batch", type=ints, default=[1, 69],
                    help="batch sizes (first N denied; default 1,69)")
    ap.add_argument("--chunk-size", type=int, default=0, help="the batch's --chunk-size (default: its own)")
    ap.add_argument("--what-if-chunk", type=int, default=0, help="also run with the score bound sliced to K boxes")
    ap.add_argument("--tag", default="", help="write bench/results/memory-TAG.jsonl (default memory.jsonl)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, code in runs(args, folder):
            variants = [("as shipped", code)]
            if args.what_if_chunk and label != "import milp_recourse":
                variants.append((f"what-if: bound {args.what_if_chunk} boxes at a time",
                                 PATCH.format(k=args.what_if_chunk) + code))
            for variant, src in variants:
                for f in folder.glob("out_*"):
                    f.unlink()
                r = peak_rss(src, folder)
                row = {"run": label, "variant": variant, "peak_mb": max(r["peak_tree_mb"], r["vmhwm_mb"]),
                       "vmhwm_mb": r["vmhwm_mb"], "seconds": r["seconds"], "rc": r["rc"],
                       "last_line": batch_statuses(folder) or r["tail"]}
                print(markdown_table([row], list(row)).splitlines()[-1], flush=True)
                rows.append(row)
    name = f"memory-{args.tag}.jsonl" if args.tag else "memory.jsonl"
    write_jsonl(ROOT / "bench" / "results" / name, [{"machine": machine()}] + rows)
    print(markdown_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
