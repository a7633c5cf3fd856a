"""Shared helpers for the benchmark scripts: data folder, machine info, JSONL + Markdown output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def data_dir() -> Path:
    d = Path(os.environ.get("MILP_RECOURSE_DATA", ROOT.parent / "shared" / "datasets"))
    if not d.is_dir():
        sys.exit(f"Benchmark data not found at {d}; set MILP_RECOURSE_DATA to the datasets folder.")
    return d


def machine() -> dict:
    from importlib.metadata import version

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "highspy": version("highspy"), "numpy": version("numpy"), "scikit-learn": version("scikit-learn")}


def quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


def summarize(xs: list[float]) -> dict:
    return {"median": statistics.median(xs) if xs else float("nan"), "p95": quantile(xs, 0.95),
            "max": max(xs) if xs else float("nan"), "n": len(xs)}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def markdown_table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out)
