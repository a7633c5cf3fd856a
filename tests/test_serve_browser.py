"""The elicitation page end to end in the system's Chromium (Playwright): fill the record, untick a feature,
rank (drag and the keyboard-operable buttons), submit, and check the shown answer equals `solve` for the same
inputs; a no-recourse person sees the conflict and the cheapest relaxation and re-solves in one click.

Screenshots of each step go to a tmp dir (or to $MILP_RECOURSE_SCREENSHOTS, e.g. docs/screenshots).
Skips with a reason when playwright, fastapi/uvicorn or /usr/bin/chromium is missing (`make test` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the 'serve' extra (uvicorn) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from milp_recourse.models.recipes import first_denied, load_model
from milp_recourse.problem.options import Actionability, SolveOptions
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import load_scm
from milp_recourse.serve.app import create_app
from milp_recourse.solver.pipeline import solve

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TIME_LIMIT = 10.0

pytestmark = pytest.mark.skipif(not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
                                reason="no system Chromium at /usr/bin/chromium (Debian package 'chromium')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def loan():
    scm = load_scm("loan")
    return scm, load_model("recipe:logreg", scm)


@pytest.fixture(scope="module")
def server(loan):
    """uvicorn in a thread, loopback only, on a free port."""
    scm, model = loan
    app = create_app(scm, model, data=scm.sample(20, seed=3), time_limit=TIME_LIMIT)   # --data: pick by id
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1",
                                        port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{srv.config.port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                              args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = os.environ.get("MILP_RECOURSE_SCREENSHOTS")
    path = Path(out) if out else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _reference(loan, person, actionable, ranking, directions=None):
    scm, model = loan
    return solve(RecourseProblem(scm, model, person,
                                 actionability=Actionability(actionable=tuple(actionable), directions=directions or {}),
                                 preferences=Preferences.from_ranking(ranking, actionable),
                                 options=SolveOptions(time_limit=TIME_LIMIT)))


def _ranking(page) -> list[str]:
    return page.eval_on_selector_all("#ranking-list li", "els => els.map(e => e.dataset.feature)")


def _unlabelled(page) -> list[str]:
    """Ids of visible inputs/selects/buttons without a label (a <label>, aria-label or text)."""
    return page.evaluate("""() => [...document.querySelectorAll('input, select, button')]
        .filter(e => e.offsetParent !== null)
        .filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim()))
        .map(e => e.id || e.outerHTML)""")


def test_record_constraints_ranking_result(server, browser, loan, shots):
    scm, model = loan
    person = {n: float(v) for n, v in first_denied(scm, model, seed=5).items()}   # not the pre-filled example
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(server)
    page.wait_for_selector("#rec-E")
    for name, value in person.items():                       # (1) the record
        if scm.variable(name).kind == "binary":
            page.select_option(f"#rec-{name}", str(int(value)))
        else:
            page.fill(f"#rec-{name}", repr(value))
    assert page.is_hidden("#step-result")                     # no recommendation before the preferences
    page.locator("#step-record").screenshot(path=str(shots / "1-record.png"))
    page.click("#to-constraints")                             # (2) hard constraints: cannot change E; S only up
    page.wait_for_selector("#can-E", state="visible")
    page.uncheck("#can-E")
    assert page.is_disabled("#lo-E") and page.is_disabled("#dir-E")
    page.select_option("#dir-S", "up")
    page.locator("#step-constraints").screenshot(path=str(shots / "2-constraints.png"))
    page.click("#to-preferences")                             # (3) soft preferences: S, I, L (easiest first)
    page.wait_for_selector("#rank-L", state="visible")
    assert _ranking(page) == ["L", "I", "S"]
    page.drag_and_drop("#rank-S .label", "#rank-L .label", target_position={"x": 5, "y": 2})
    assert _ranking(page) == ["S", "L", "I"]                   # dragged to the top
    page.focus("#down-L")
    page.keyboard.press("Enter")                              # keyboard: L one down
    assert _ranking(page) == ["S", "I", "L"]
    assert page.evaluate("document.activeElement.id") in ("down-L", "up-L")   # focus follows the item
    assert page.is_hidden("#step-result")
    page.locator("#step-preferences").screenshot(path=str(shots / "3-preferences.png"))
    page.click("#solve")                                      # (4) the recommendation
    page.wait_for_selector("#status")
    want = _reference(loan, person, ["L", "I", "S"], ["S", "I", "L"], {"S": "up"})
    assert page.get_attribute("#status", "data-status") == want.status.value == "OPTIMAL"
    assert float(page.get_attribute("#cost", "data-cost")) == pytest.approx(want.cost, abs=1e-9)
    shown = {r["f"]: float(r["v"]) for r in page.eval_on_selector_all(
        "#actions-table tbody tr", "els => els.map(e => ({f: e.dataset.feature, v: e.dataset.value}))")}
    assert shown.keys() == want.action.keys() and "E" not in shown
    for k, v in want.action.items():
        assert shown[k] == pytest.approx(v, abs=1e-7)
    effects = set(page.eval_on_selector_all("#cf-table tr.effect", "els => els.map(e => e.dataset.feature)"))
    moved = {n for n in scm.names if abs(want.counterfactual[n] - want.factual[n]) > 1e-9} - set(want.action)
    assert effects == moved                                   # downstream effects marked as effects, not actions
    assert "proven optimal" in page.inner_text("#status").lower()
    assert "To get a favourable decision" in page.inner_text("#sentence")
    cf = pd.DataFrame([{n: float(page.get_attribute(f"#cf-table tr[data-feature={n}]", "data-value"))
                        for n in scm.names}])
    assert model.predict_proba(cf)[0, 1] >= 0.5               # the shown counterfactual is approved by the model
    assert _unlabelled(page) == []
    page.locator("#step-result").screenshot(path=str(shots / "4-recommendation.png"))
    page.close()


def test_no_recourse_then_one_click_relaxation_at_phone_width(server, browser, loan, shots):
    scm, model = loan
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(20_000)
    page.goto(server)
    page.wait_for_selector("#rec-E")
    person = {n: float(page.input_value(f"#rec-{n}")) for n in scm.names}    # the pre-filled example
    page.click("#to-constraints")
    page.wait_for_selector("#can-L", state="visible")
    for n in ("L", "I", "S"):
        page.uncheck(f"#can-{n}")
    page.click("#to-preferences")
    page.wait_for_selector("#rank-E", state="visible")
    page.click("#solve")
    page.wait_for_selector("#relaxations")                    # (5) conflict + relaxations
    assert page.get_attribute("#status", "data-status") == "NO_RECOURSE"
    assert _reference(loan, person, ["E"], ["E"]).status.value == "NO_RECOURSE"
    keys = set(page.eval_on_selector_all("#conflict li", "els => els.map(e => e.dataset.key)"))
    assert keys == {"fixed:L", "fixed:I", "fixed:S"}
    assert "you cannot change income (I)" in page.inner_text("#conflict")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390        # readable at phone width
    assert _unlabelled(page) == []
    page.locator("#step-explain").screenshot(path=str(shots / "5-no-recourse.png"))
    first = page.query_selector(".relaxations li")
    drop = first.get_attribute("data-drop").split(",")
    promised = float(first.get_attribute("data-cost"))
    assert first.get_attribute("class") == "cheapest" and len(drop) == 1
    page.click("#relax-0")                                    # one-click re-solve
    page.wait_for_function("document.querySelector('#status').dataset.status === 'OPTIMAL'")
    freed = drop[0].split(":")[1]
    assert page.is_checked(f"#can-{freed}")                   # the form now says what was solved
    assert _ranking(page) == ["E", freed]                     # shown last, marked unranked, sent unranked:
    assert "not ranked yet" in page.inner_text(f"#rank-{freed}")   # the hardest weight, as the library prices it
    want = _reference(loan, person, sorted(["E", freed], key="ELIS".index), ["E"])
    got = float(page.get_attribute("#cost", "data-cost"))
    assert got == pytest.approx(want.cost, abs=1e-9) and got == pytest.approx(promised, abs=1e-9)
    assert page.is_hidden("#step-explain")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#step-result").screenshot(path=str(shots / "6-relaxed-resolve.png"))
    page.close()


def test_bad_record_shows_the_library_message_then_scores(server, browser, loan):
    scm, model = loan
    page = browser.new_page()
    page.set_default_timeout(20_000)
    page.goto(server)
    page.wait_for_selector("#rec-E")
    data = scm.sample(20, seed=3)
    k = int(np.flatnonzero(model.predict(data[list(scm.names)]) == 0)[0])   # a denied person in the data
    page.fill("#pick-id", str(k))                             # the record picked by id from --data
    page.click("#pick-load")
    row = data.iloc[k]
    page.wait_for_function(f"document.querySelector('#rec-S').value === String({float(row['S'])!r})")
    assert all(float(page.input_value(f"#rec-{n}")) == pytest.approx(float(row[n])) for n in scm.names)
    page.fill("#pick-id", "20")
    page.click("#pick-load")
    page.wait_for_selector("#error:not([hidden])")
    assert "out of range" in page.inner_text("#error")
    good = page.input_value("#rec-E")
    page.fill("#rec-E", "3")
    page.click("#to-constraints")
    page.click("#to-preferences")
    page.click("#solve")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "Feature 'E' = 3 is outside its domain [-0.5, 0.5]."
    assert page.is_hidden("#step-result")
    page.fill("#rec-E", good)                                 # fixed; now 1-5 difficulty scores instead of a ranking
    person = {n: float(page.input_value(f"#rec-{n}")) for n in scm.names}
    page.check("#mode-scores")
    assert page.is_hidden("#ranking-panel") and page.is_visible("#score-E")
    scores = {"E": 5, "L": 2, "I": 4, "S": 1}
    for n, v in scores.items():
        page.select_option(f"#score-{n}", str(v))
    page.click("#solve")
    page.wait_for_selector("#status")
    assert page.is_hidden("#error")
    want = solve(RecourseProblem(scm, model, person, preferences=Preferences.from_scores(scores, list("ELIS")),
                                 actionability=Actionability(actionable=tuple("ELIS")),
                                 options=SolveOptions(time_limit=TIME_LIMIT)))
    assert page.get_attribute("#status", "data-status") == want.status.value
    assert float(page.get_attribute("#cost", "data-cost")) == pytest.approx(want.cost, abs=1e-9)
    page.close()


def test_categorical_record_by_level_names(browser, shots):
    """A categorical SCM on the page: the record's selects show level names, a categorical gets no direction
    or value bounds, and the answer (level names in the tables) equals `solve` for the same inputs."""
    from test_categorical_scm import LEVELS, classifier, spec

    from milp_recourse.scm.spec import scm_from_dict

    scm = scm_from_dict(spec())
    pipe, X, ref = classifier(scm, "onehot-logreg")
    x = X[ref.predict_proba(X)[:, 1] < 0.5][1]
    app = create_app(scm, pipe, time_limit=TIME_LIMIT)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.set_default_timeout(20_000)
        page.goto(f"http://127.0.0.1:{srv.config.port}")
        page.wait_for_selector("#rec-job")
        assert page.eval_on_selector_all("#rec-job option", "els => els.map(e => e.textContent)") == LEVELS["job"]
        page.select_option("#rec-job", label=LEVELS["job"][int(x[0])])
        page.select_option("#rec-edu", label=LEVELS["edu"][int(x[1])])
        page.select_option("#rec-hours", str(int(x[2])))   # a small integer domain: a select too
        page.click("#to-constraints")
        page.wait_for_selector("#can-job", state="visible")
        assert page.is_disabled("#dir-job") and page.is_disabled("#lo-job")
        page.click("#to-preferences")
        page.click("#solve")
        page.wait_for_selector("#status")
        page.locator("#step-result").screenshot(path=str(shots / "5-categorical.png"))
        names = [n for n in scm.names if scm.variable(n).actionability != "immutable"]
        want = solve(RecourseProblem(scm, pipe, x, actionability=Actionability(actionable=tuple(names)),
                                     preferences=Preferences.from_ranking(
                                         page.eval_on_selector_all("#ranking-list li",
                                                                   "els => els.map(e => e.dataset.feature)"), names),
                                     options=SolveOptions(time_limit=TIME_LIMIT)))
        assert float(page.get_attribute("#cost", "data-cost")) == pytest.approx(want.cost, abs=1e-9)
        shown = {r["f"]: r["v"] for r in page.eval_on_selector_all(
            "#actions-table tbody tr", "els => els.map(e => ({f: e.dataset.feature, v: e.dataset.value}))")}
        assert shown == {k: str(v) for k, v in want.to_dict()["action"].items()}
        assert page.inner_text("#cf-table").count(want.raw_counterfactual["job"]) >= 1
        page.close()
    finally:
        srv.should_exit = True
        thread.join(10)
