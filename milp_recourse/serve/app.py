"""create_app: the FastAPI app of `milp-recourse serve` (the elicitation page and its JSON API).

Solves run in a bounded thread pool (never on the event loop), each bounded by the server's time limit;
a malformed body gets 422 with the library's own InputError text, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Callable

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from milp_recourse.errors import InputError, RecourseError
from milp_recourse.problem.options import SolveOptions
from milp_recourse.serve.info import describe_classifier, example_individual, feature_schema
from milp_recourse.serve.request import build_problem, parse_json
from milp_recourse.serve.schemas import request_body_doc

DEFAULT_TIME_LIMIT = 20.0
MAX_BODY = 1_000_000   # bytes; a person's request is a few hundred


class BadRequest(Exception):
    """A request that cannot be turned into a problem; carries the message for the 422 answer."""


def _plain(value: Any) -> Any:
    """json.dumps fallback: numpy scalars and arrays as Python numbers / lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, default=_plain), status_code=status, media_type="application/json")


def _error(message: str, status: int = 422) -> Response:
    return _json({"detail": message}, status)


def create_app(scm, classifier, data=None, time_limit: float = DEFAULT_TIME_LIMIT, workers: int | None = None,
               classifier_name: str | None = None) -> FastAPI:
    """The app for one SCM and classifier; `data` (a DataFrame) enables GET /api/individuals/{id}."""
    from milp_recourse.models.recipes import bind_levels
    from milp_recourse.serve.explain import explain_body
    from milp_recourse.solver.pipeline import solve

    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not 0 < time_limit < math.inf:
        raise InputError(f"The 'time_limit' option must be a float > 0. Got {time_limit!r}.")
    n_workers = max(1, min(4, os.cpu_count() or 1)) if workers is None else workers
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise InputError(f"The 'workers' option must be an integer >= 1. Got {workers!r}.")
    if data is not None:
        missing = [n for n in scm.names if n not in data.columns]
        if missing:
            raise InputError(f"The data lacks feature column(s) {', '.join(missing)}; it has "
                             f"{', '.join(map(str, data.columns))}.")
    classifier = bind_levels(classifier, scm)   # a model on level names reads the SCM's codes (once, not per request)
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="recourse-solve")
    schema = {"scm": scm.name, "classifier": classifier_name or describe_classifier(classifier),
              "features": feature_schema(scm), "time_limit": float(time_limit),
              "threshold": SolveOptions().threshold, "rows": None if data is None else int(len(data)),
              "example": example_individual(scm, classifier)}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="milp-recourse", lifespan=lifespan,
                  description="Exact causal recourse for one person: state what you can change and how hard each "
                              "change is for you, then see the cheapest verified action.")
    app.state.pool = pool

    def problem_of(raw: bytes):
        try:
            body = parse_json(raw)
            return body, build_problem(scm, classifier, body, time_limit)
        except RecourseError as err:
            raise BadRequest(str(err)) from None
        except (TypeError, ValueError, KeyError, RecursionError) as err:   # a shape the validators did not foresee
            raise BadRequest(f"Malformed request: {err}") from None

    async def run(raw: bytes, job: Callable[[bytes], Any], guard: float) -> Response:
        if len(raw) > MAX_BODY:
            return _error(f"The request body is {len(raw)} bytes; at most {MAX_BODY} are accepted.", 413)
        loop = asyncio.get_running_loop()
        try:
            out = await asyncio.wait_for(loop.run_in_executor(pool, job, raw), timeout=guard)
        except BadRequest as err:
            return _error(str(err))
        except asyncio.TimeoutError:
            return _error(f"The solve did not finish within {guard:g} s (time limit {time_limit:g} s per solve).", 503)
        except RecourseError as err:
            return _error(str(err))
        except Exception as err:  # noqa: BLE001  a bug, not the caller's input: say so in JSON, keep serving
            return _error(f"Internal error while solving ({type(err).__name__}: {err}).", 500)
        return _json(out)

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        """Liveness: {"status": "ok"}."""
        return {"status": "ok"}

    @app.get("/api/schema")
    async def get_schema() -> Response:
        """The features (name, type, domain, actionability, description), the model and an example record."""
        return _json(schema)

    @app.post("/api/solve", openapi_extra=request_body_doc())
    async def post_solve(request: Request) -> Response:
        """The cheapest verified recourse: exactly `RecourseResult.to_dict()` (as `solve --format json`)."""
        def job(raw: bytes):
            _, problem = problem_of(raw)
            return solve(problem).to_dict()
        return await run(await request.body(), job, 2 * time_limit + 10)

    @app.post("/api/explain", openapi_extra=request_body_doc())
    async def post_explain(request: Request) -> Response:
        """Why there is no recourse: certificate, minimal conflict, cheapest relaxations (each with its request)."""
        def job(raw: bytes):
            body, problem = problem_of(raw)
            return explain_body(problem, body)
        return await run(await request.body(), job, 20 * time_limit + 10)

    @app.get("/api/individuals/{row}")
    async def individual(row: str) -> Response:
        """Row `row` (0-based) of the --data table, as {"id": row, "individual": {feature: value}}."""
        if data is None:
            return _error("This server has no dataset: start it with --data FILE to pick people by id.", 404)
        try:
            r = int(row)
        except ValueError:
            return _error(f"The individual id must be a row number 0..{len(data) - 1}. Got {row!r}.")
        if not 0 <= r < len(data):
            return _error(f"Individual {r} is out of range: the data has {len(data)} rows (0..{len(data) - 1}).", 404)
        rec = data.iloc[r]
        return _json({"id": r, "individual": {n: float(rec[n]) for n in scm.names}})

    static = resources.files("milp_recourse.serve") / "static"

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


__all__ = ["create_app", "DEFAULT_TIME_LIMIT"]
