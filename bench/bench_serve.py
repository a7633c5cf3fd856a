"""Throughput of `milp-recourse serve`'s /api/solve: Loan + recipe:logreg, N concurrent clients, a bounded loop.

Starts `python -m milp_recourse serve` as a subprocess on 127.0.0.1 (a free port), sends --requests solves from
--clients concurrent httpx clients (denied people of a fresh SCM sample, round robin, the spec's actionability
and a ranking), and prints p50 / p95 latency and requests per second; one JSONL row to bench/results/serve.jsonl.

    .venv/bin/python bench/bench_serve.py [--clients 8] [--requests 400] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import subprocess
import sys
import time

from common import ROOT, machine, markdown_table, quantile, write_jsonl


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _people(n: int) -> list[dict[str, float]]:
    """Denied people of a fresh Loan sample (seed 11), as the server's model sees them."""
    from milp_recourse.models.classifiers import favourable
    from milp_recourse.models.recipes import load_model
    from milp_recourse.scm import load_scm

    scm = load_scm("loan")
    model = load_model("recipe:logreg", scm)
    X = scm.sample(4 * n, seed=11)
    denied = X[~favourable(model, X[list(scm.names)].to_numpy(float), 0.5)]
    return [{k: float(v) for k, v in row.items()} for _, row in denied.head(n).iterrows()]


async def _run(url: str, bodies: list[dict], clients: int, total: int) -> tuple[list[float], collections.Counter, float]:
    import httpx

    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    next_i = iter(range(total))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:
            for i in next_i:
                t0 = time.perf_counter()
                r = await c.post("/api/solve", json=bodies[i % len(bodies)])
                latencies.append(time.perf_counter() - t0)
                statuses[r.json()["status"] if r.status_code == 200 else f"HTTP {r.status_code}"] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses, time.perf_counter() - t0


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/api/health", timeout=2).json() == {"status": "ok"}:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--workers", type=int, help="the server's solver threads (default: its own, min(4, CPUs))")
    ap.add_argument("--people", type=int, default=50, help="distinct denied people cycled through")
    args = ap.parse_args()
    if args.clients < 1 or args.requests < 1:
        sys.exit("--clients and --requests must be >= 1")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "milp_recourse", "serve", "--scm", "loan", "--classifier", "recipe:logreg",
           "--host", "127.0.0.1", "--port", str(port), "--time-limit", "20"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        _wait_ready(url, proc)
        bodies = [{"individual": p, "ranking": ["S", "L", "E", "I"]} for p in _people(args.people)]
        asyncio.run(_run(url, bodies, 1, 4))                       # warm-up, not counted
        lat, statuses, wall = asyncio.run(_run(url, bodies, args.clients, args.requests))
    finally:
        proc.terminate()
        proc.wait(10)
    row = {"bench": "serve", "scm": "loan", "classifier": "recipe:logreg", "clients": args.clients,
           "requests": len(lat), "workers": args.workers or min(4, os.cpu_count() or 1), "people": len(bodies),
           "p50_ms": 1000 * quantile(lat, 0.5), "p95_ms": 1000 * quantile(lat, 0.95), "max_ms": 1000 * max(lat),
           "req_per_s": len(lat) / wall, "wall_s": wall, "statuses": dict(statuses), "machine": machine()}
    print(markdown_table([row], ["clients", "requests", "workers", "p50_ms", "p95_ms", "max_ms", "req_per_s"]))
    print("statuses:", dict(statuses))
    write_jsonl(ROOT / "bench" / "results" / "serve.jsonl", [row])


if __name__ == "__main__":
    main()
