"""`milp-recourse serve`: the preference-elicitation page and its JSON API on one SCM and classifier."""

from __future__ import annotations

import argparse
from typing import Any

from milp_recourse.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="web page + JSON API: a person states constraints and preferences, then sees "
                                     "their exact recourse",
                       description="Serve the elicitation page (record -> what you can change -> how hard each "
                                   "change is -> the recommendation) and its JSON API (/api/solve, /api/explain, "
                                   "/api/schema; OpenAPI at /docs). Needs the 'serve' extra (fastapi, uvicorn).")
    p.add_argument("--scm", required=True, help="SCM spec file (.yaml/.json) or shipped name (loan, chain, ...)")
    p.add_argument("--classifier", required=True,
                   help="joblib/pickle scikit-learn estimator (runs code when loaded: only files you trust), "
                        ".npz ReLU network, or recipe:NAME trained on the SCM")
    p.add_argument("--data", help="CSV/Parquet of people to pick by row number (GET /api/individuals/{id})")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds per solve (default 20)")
    p.add_argument("--workers", type=int, help="solver threads serving requests (default min(4, CPUs))")
    p.set_defaults(func=_cmd_serve)


def _read_data(path: str):
    from milp_recourse.tables import read_table

    return read_table(path, "--data")


def _checked_data(data: Any, scm: Any) -> Any:
    """The --data table with every SCM feature present, filled, finite and numeric (level names as codes), checked
    at start: a text or empty cell answered 500 or invalid JSON (NaN) when its row was picked (an outside fuzz)."""
    import numpy as np
    import pandas as pd

    from milp_recourse.batch.run import coded_features

    missing = [n for n in scm.names if n not in data.columns]
    if missing:
        raise InputError(f"--data lacks the SCM's feature column(s) {', '.join(map(repr, missing))}; expected "
                         f"all of {', '.join(scm.names)}.")
    coded = coded_features(data, scm)
    for n in scm.names:
        values = pd.to_numeric(coded[n], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InputError(f"--data column {n!r}, row {int(bad[0])}: {coded[n].iloc[int(bad[0])]!r} is not a "
                             "finite number; expected numbers (or level names of a categorical feature).")
        coded[n] = values
    return coded


def _port_free(host: str, port: int) -> None:
    """InputError when another program listens on host:port (uvicorn would print the banner, then exit 3)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another "
                         "port.") from None


def _cmd_serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be in 1..65535. Got {args.port}.")
    try:
        import uvicorn

        from milp_recourse.serve.app import create_app
    except ImportError as err:
        raise InputError(f"`serve` needs the 'serve' extra: pip install 'milp_recourse[serve]' ({err}).") from None
    from milp_recourse.models.recipes import load_model
    from milp_recourse.scm import load_scm

    scm = load_scm(args.scm)
    model = load_model(args.classifier, scm)
    data = None if args.data is None else _checked_data(_read_data(args.data), scm)
    _port_free(args.host, args.port)
    app = create_app(scm, model, data=data, time_limit=args.time_limit, workers=args.workers,
                     classifier_name=args.classifier)
    print(f"Serving {args.scm} + {args.classifier} on http://{args.host}:{args.port}/ "
          "(API docs at /docs; Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


__all__ = ["add_parser"]
