"""solve_batch: same answers as one-person solve, whatever the engine; failures stay in their row; resumable."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pandas as pd
import pytest

from milp_recourse import (Actionability, InputError, Preferences, RecourseProblem, SolveOptions, load_scm,
                           solve)
from milp_recourse.solver import pipeline as exact
from milp_recourse.solver import many
from milp_recourse.batch.run import solve_batch
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import load_model

OPTS = SolveOptions(time_limit=30)


def _wrap_solvers(monkeypatch, before):
    """Run before(problem) ahead of every per-person solve, on both paths: solve_many's search (the batch's
    fast path) and exact.solve (its fallback)."""
    real_search, real_solve = many.search_person, exact.solve
    monkeypatch.setattr(many, "settle", lambda problems: {})   # no closed form: every person reaches the search
    monkeypatch.setattr(many, "search_person", lambda p, *a, **k: before(p) or real_search(p, *a, **k))
    monkeypatch.setattr(exact, "solve", lambda p, *a, **k: before(p) or real_solve(p, *a, **k))


@pytest.fixture(scope="module")
def chain():
    scm = load_scm("chain")
    model = load_model("recipe:logreg", scm)
    data = scm.sample(36, seed=11)
    data.insert(0, "person", [f"p{i:02d}" for i in range(len(data))])
    return scm, model, data


@pytest.fixture(scope="module")
def profiles(chain):
    """Hand-written profiles in the documented format (several kinds, and people without a row)."""
    rows = []
    for i, pid in enumerate(chain[2]["person"]):
        kind = i % 4
        if kind == 0:
            rows.append({"person": pid, "actionable": "x1;x3", "ranking": "x3;x1"})
        elif kind == 1:
            rows.append({"person": pid, "actionable": "x2", "bounds.x2": "-1:1"})
        elif kind == 2:
            rows.append({"person": pid, "score.x1": 4, "score.x2": 1, "score.x3": 2, "max_changes": 1})
    return pd.DataFrame(rows)


def expected_problem_parts(row: dict) -> tuple[Actionability, Preferences]:
    """The profile's meaning, rebuilt by hand (independent of profiles.py)."""
    if not isinstance(row.get("actionable"), str) and not isinstance(row.get("score.x1"), (int, float)):
        return Actionability(), Preferences()
    if row.get("ranking") == "x3;x1":
        return Actionability(actionable=("x1", "x3")), Preferences(weights={"x3": 1.0, "x1": 2.0})
    if row.get("actionable") == "x2":
        return Actionability(actionable=("x2",), bounds={"x2": (-1.0, 1.0)}), Preferences()
    return Actionability(max_changes=1), Preferences(weights={"x1": 4.0, "x2": 1.0, "x3": 2.0})


@pytest.fixture(scope="module")
def serial(chain, profiles):
    scm, model, data = chain
    return solve_batch(scm, model, data, profiles, options=OPTS, id_column="person", workers=1)


def test_every_row_equals_the_single_person_solve(chain, profiles, serial):
    scm, model, data = chain
    prof = {r["person"]: r for r in profiles.to_dict("records")}
    assert list(serial["id"]) == list(data["person"])
    fav = favourable(model, data[list(scm.names)].to_numpy(float))
    assert 10 <= (~fav).sum() <= 30  # a real mix of denied and approved people
    for (_, row), person in zip(serial.iterrows(), data.to_dict("records")):
        act, prefs = expected_problem_parts(prof.get(person["person"], {}))
        res = solve(RecourseProblem(scm, model, {n: person[n] for n in scm.names}, actionability=act,
                                    preferences=prefs, options=OPTS))
        assert row["status"] == res.status.value
        if res.cost is None:
            assert np.isnan(row["cost"])
        else:
            assert abs(row["cost"] - res.cost) <= 1e-6
        action = json.loads(row["action"])
        assert action.keys() == res.action.keys()
        assert all(abs(action[k] - res.action[k]) <= 1e-6 for k in action)
        assert row["verified"] == res.verified and row["n_changed"] == len(res.action)
        if act.actionable is not None:
            assert set(action) <= set(act.actionable) and row["actionable"] == ";".join(act.actionable)
        assert row["x1"] == person["x1"]  # the data's own columns are kept
    assert set(serial["status"]) >= {"OPTIMAL", "ALREADY_FAVOURABLE"}


def test_a_row_limit_keeps_the_full_profiles_table(chain, profiles, serial):
    """--limit 10 with the profiles of all 36 people: the first 10 rows as in the full run (it was refused: 'the
    profiles name 26 id(s) not in the data'); a profile id in no row of the data is still refused."""
    scm, model, data = chain
    head = solve_batch(scm, model, data, profiles, options=OPTS, id_column="person", workers=1, limit=10)
    _same(head, serial.iloc[:10].reset_index(drop=True))
    stray = pd.concat([profiles, pd.DataFrame({"person": ["nobody"]})], ignore_index=True)
    with pytest.raises(InputError, match="not in the data"):
        solve_batch(scm, model, data, stray, options=OPTS, id_column="person", workers=1, limit=10)


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from milp_recourse.batch.engines import ray_init

    ray_init(num_cpus=2)
    yield
    ray.shutdown()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a["id"]) == list(b["id"])
    assert list(a["status"]) == list(b["status"])
    np.testing.assert_allclose(a["cost"].to_numpy(float), b["cost"].to_numpy(float), atol=1e-6, equal_nan=True)
    for x, y in zip(a["action"], b["action"]):
        xa, ya = json.loads(x), json.loads(y)
        assert xa.keys() == ya.keys() and all(abs(xa[k] - ya[k]) <= 1e-6 for k in xa)


@pytest.mark.parametrize("engine", ["local", "dask", "ray"])
def test_engines_give_the_same_results(engine, chain, profiles, serial, request):
    pytest.importorskip({"local": "joblib", "dask": "distributed", "ray": "ray"}[engine])
    if engine == "ray":
        request.getfixturevalue("ray_local")
    scm, model, data = chain
    out = solve_batch(scm, model, data, profiles, options=OPTS, id_column="person", workers=2, engine=engine,
                      chunk_size=3)
    _same(out, serial)


def test_one_failure_is_that_rows_status(chain, monkeypatch):
    scm, model, data = chain
    victim = data.iloc[int(np.flatnonzero(~favourable(model, data[list(scm.names)].to_numpy(float)))[1])]

    def flaky(problem):
        if np.allclose(problem.x, victim[list(scm.names)].to_numpy(float)):
            raise RuntimeError("solver exploded")

    _wrap_solvers(monkeypatch, flaky)
    out = solve_batch(scm, model, data.head(12), options=OPTS, id_column="person")
    row = out.set_index("id").loc[victim["person"]]
    assert row["status"] == "ERROR" and "RuntimeError: solver exploded" in row["message"]
    others = out[out["id"] != victim["person"]]
    assert set(others["status"]) <= {"OPTIMAL", "ALREADY_FAVOURABLE"} and len(out) == 12


def test_hard_time_limit_makes_the_row_unknown(chain, monkeypatch):
    if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
        pytest.skip("SIGALRM is taken (e.g. pytest-timeout's signal method); the hard limit then stays off")
    scm, model, data = chain
    slow_x = data[list(scm.names)].to_numpy(float)[np.flatnonzero(
        ~favourable(model, data[list(scm.names)].to_numpy(float)))[0]]

    def sleepy(problem):
        if np.allclose(problem.x, slow_x):
            time.sleep(30)

    _wrap_solvers(monkeypatch, sleepy)
    t0 = time.perf_counter()
    out = solve_batch(scm, model, data.head(12), options=OPTS, hard_time_limit=0.5)
    assert time.perf_counter() - t0 < 25
    stuck = out[out["message"].str.contains("hard time limit")]
    assert len(stuck) == 1 and stuck["status"].iloc[0] == "UNKNOWN"


def test_progress_callback_counts_every_solved_individual(chain):
    scm, model, data = chain
    seen = []
    out = solve_batch(scm, model, data.head(14), options=OPTS, chunk_size=2, progress=lambda d, t: seen.append((d, t)))
    denied = int((out["status"] != "ALREADY_FAVOURABLE").sum())
    assert list(out["id"]) == list(range(14))  # without id_column: the row number
    assert seen and seen[-1] == (denied, denied) and [d for d, _ in seen] == sorted(d for d, _ in seen)


class Interrupt(Exception):
    """Simulates Ctrl-C after a few chunks."""


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_interrupted_run_resumes_without_loss_or_duplicates(chain, serial, profiles, tmp_path, monkeypatch, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    scm, model, data = chain
    out = tmp_path / f"res{suffix}"

    def stop_after_two(done, total):
        if done >= 4:
            raise Interrupt()

    with pytest.raises(Interrupt):
        solve_batch(scm, model, data, profiles, options=OPTS, id_column="person", out=out, chunk_size=2,
                    progress=stop_after_two)
    log = out if suffix == ".csv" else tmp_path / "res.parquet.journal.jsonl"
    with open(log, "a") as fh:  # a crash in the middle of a write leaves a torn line
        fh.write('p99,OPTIM' if suffix == ".csv" else '{"id": "p0')
    calls = []
    _wrap_solvers(monkeypatch, lambda p: calls.append(1))
    resumed = solve_batch(scm, model, data, profiles, options=OPTS, id_column="person", out=out, resume=True)
    _same(resumed, serial)
    denied = int((serial["status"] != "ALREADY_FAVOURABLE").sum())
    assert len(calls) == denied - 4  # the 4 finished ones were not solved again
    on_disk = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(on_disk["id"]) == list(data["person"]) and not on_disk["id"].duplicated().any()
    assert not log.exists() or suffix == ".csv"
    _wrap_solvers(monkeypatch, lambda p: pytest.fail("a finished run must not solve again"))
    again = solve_batch(scm, model, data, profiles, options=OPTS, id_column="person", out=out, resume=True)
    _same(again, serial)


def test_bad_input_is_refused_before_any_solving(chain, tmp_path, monkeypatch):
    scm, model, data = chain
    _wrap_solvers(monkeypatch, lambda p: pytest.fail("solving started despite bad input"))
    cases = [
        (dict(data=data.drop(columns=["x2"])), "lacks feature column"),
        (dict(data=pd.concat([data.head(3), data.head(1)]), id_column="person"), "unique"),
        (dict(data=data, id_column="nobody"), "not in the data"),
        (dict(data=data.assign(x3=np.where(np.arange(len(data)) == 5, 99.0, data["x3"]))), "outside its domain"),
        (dict(data=data.assign(x1="high")), "numeric"),
        (dict(data=data.assign(status=1)), "rename"),
        (dict(data=tmp_path / "missing.csv"), "does not exist"),
        (dict(data=tmp_path / "data.txt"), "extension"),
        (dict(data=data, profiles=pd.DataFrame({"id": [1, 1]})), "more than once"),
        (dict(data=data, profiles=pd.DataFrame({"id": [1], "weight.x9": [2]})), "unknown feature"),
        (dict(data=data, engine="spark"), "Unknown engine"),
        (dict(data=data, workers=0), "workers"),
        (dict(data=data, address="tcp://x:1"), "address"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message):
            solve_batch(scm, model, profiles=kwargs.pop("profiles", None), **kwargs)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"not a parquet file")
    with pytest.raises(InputError, match="Could not read"):
        solve_batch(scm, model, corrupt)
    existing = tmp_path / "done.csv"
    existing.write_text("keep me\n")
    with pytest.raises(InputError, match="already exists"):
        solve_batch(scm, model, data, out=existing)
    assert existing.read_text() == "keep me\n"


def test_resume_refuses_an_output_of_another_run(chain, tmp_path):
    scm, model, data = chain
    out = tmp_path / "other.csv"
    solve_batch(scm, model, data.head(4), options=OPTS, id_column="person", out=out)
    with pytest.raises(InputError, match="not in this data"):
        solve_batch(scm, model, data.iloc[10:14], options=OPTS, id_column="person", out=out, resume=True)
    with pytest.raises(InputError, match="does not match this run"):
        solve_batch(scm, model, data.head(4).assign(extra=1), options=OPTS, id_column="person", out=out,
                    resume=True)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_resume_refuses_data_that_changed_for_a_finished_person(chain, tmp_path, suffix):
    """Same ids and columns, but a finished person's values changed: the old result would be glued to values it
    was not computed for, so resuming is refused naming the id and the values; the same data resumes."""
    scm, model, data = chain
    out = tmp_path / f"r{suffix}"
    first = data.head(6)
    solve_batch(scm, model, first.head(3), options=OPTS, id_column="person", out=out)
    again = solve_batch(scm, model, first, options=OPTS, id_column="person", out=out, resume=True)
    assert len(again) == len(first) and set(again["status"]) <= {"OPTIMAL", "ALREADY_FAVOURABLE"}
    changed = first.copy()
    name = scm.names[-1]   # (a continuous node: a new value inside its domain)
    lo, hi = scm.variable(name).domain
    changed.loc[1, name] = (lo + hi) / 2 if changed.loc[1, name] != (lo + hi) / 2 else (lo + 3 * hi) / 4
    with pytest.raises(InputError, match=rf"other data for 1 finished id\(s\) \(id {changed.loc[1, 'person']}: "
                                         rf"{name} "):
        solve_batch(scm, model, changed, options=OPTS, id_column="person", out=out, resume=True)
