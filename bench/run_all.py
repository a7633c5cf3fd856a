"""Run every benchmark script in one go (`make bench`): each prints its table and writes bench/results/*.jsonl."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [("bench_core.py", ["-n", "200"]), ("bench_suite.py", ["-n", "50"]), ("bench_certify.py", []),
           ("bench_batch.py", []), ("bench_baselines.py", [])]


def main() -> int:
    failed = []
    for script, args in SCRIPTS:
        path = HERE / script
        if not path.exists():
            print(f"skip {script}: not present")
            continue
        print(f"\n## {script} {' '.join(args)}", flush=True)
        if subprocess.call([sys.executable, str(path), *args], cwd=HERE) != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
