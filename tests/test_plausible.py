"""Plausibility as a hard constraint (--plausible box | density:Q) against independent references.

Box: a scipy LP per intervention subset on the linear chain SCM + logistic regression (the counterfactual is
affine in theta there: read off the numpy SCM, the logit off the real classifier). Density: a dense grid over
two actionable features of a linear Gaussian SCM, checked with SCM.log_density and predict_proba; the chosen
semantics (observational density of x_cf, non-intervened terms unchanged) against its closed form.
"""

from __future__ import annotations

import itertools
import json

import joblib
import numpy as np
import pytest
from scipy.optimize import linprog
from sklearn.linear_model import LogisticRegression

from milp_recourse.cli.main import main
from milp_recourse.errors import InputError
from milp_recourse.models.recipes import train_recipe
from milp_recourse.problem.options import Actionability, CostSpec
from milp_recourse.problem.plausibility import (Plausibility, box_plausibility, density_plausibility,
                                                parse_plausible)
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import Status
from milp_recourse.scm.spec import load_scm, scm_from_dict, scm_to_dict
from milp_recourse.solver.pipeline import solve
from milp_recourse.solver.strategy import box_search_reason
from milp_recourse.solver.verify import verify_action

# the references score numpy rows with models fitted on frames (same values; sklearn warns about the names)
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names:UserWarning")

MARGIN = 1e-6


def _var(name: str, eq: str, lo: float, hi: float, noise: dict | None = None) -> dict:
    return {"name": name, "type": "continuous", "domain": [lo, hi], "actionability": "actionable", "equation": eq,
            "noise": noise or {"name": "u_" + name, "dist": "normal", "mean": 0, "std": 1}}


GAUSS = {"name": "lingauss", "variables": [
    _var("a", "u_a", -6, 6),
    _var("b", "0.8*a + u_b", -9, 9, {"name": "u_b", "dist": "normal", "mean": 0.2, "std": 1.5}),
    _var("c", "0.5*a + 0.5*b + u_c", -12, 12)]}


@pytest.fixture(scope="module")
def lg():
    """Linear Gaussian SCM a -> b -> c (a -> c), a logreg on a + b + c > 1.5, its denied rows and 2000 samples."""
    scm = scm_from_dict(GAUSS)
    data = scm.sample(2000, seed=0)
    X = data[list(scm.names)]
    clf = LogisticRegression().fit(X, (X.a + X.b + X.c > 1.5).astype(int))
    return scm, clf, X[clf.predict(X) == 0].reset_index(drop=True), data


@pytest.fixture(scope="module")
def chain():
    scm = load_scm("chain")
    clf = train_recipe(scm, "logreg", 1000, 0)
    X = scm.sample(400, seed=5)[list(scm.names)]
    return scm, clf, X[clf.predict(X) == 0].reset_index(drop=True), scm.sample(300, seed=6)


def _cf(scm, noise, do: dict) -> np.ndarray:
    return scm.predict_from_noise(noise, do)


def _lp_reference(scm, clf, x: np.ndarray, pl: Plausibility) -> float:
    """Cheapest p = 1 action on a linear SCM + logreg under a box: one LP per subset of actionable features."""
    noise = scm.abduct(x)
    names = [v.name for v in scm.variables if v.actionability != "immutable"]
    lo = np.array([pl.lower[n] for n in scm.names])
    hi = np.array([pl.upper[n] for n in scm.names])
    best = np.inf
    for r in range(1, len(names) + 1):
        for S in itertools.combinations(names, r):
            xs = np.array([x[scm.index(k)] for k in S])
            base = _cf(scm, noise, dict(zip(S, xs)))
            M = np.column_stack([_cf(scm, noise, dict(zip(S, xs + np.eye(r)[i]))) - base for i in range(r)])
            g0 = clf.decision_function(base[None])[0]
            g = np.array([clf.decision_function((base + M[:, i])[None])[0] - g0 for i in range(r)])
            # variables: shift s = theta - x (r), |s| epigraph t (r); cf = base + M s
            c = np.concatenate([np.zeros(r), np.ones(r)])
            A = [np.concatenate([-g, np.zeros(r)])]
            b = [g0 - MARGIN]
            A += [np.concatenate([M[j], np.zeros(r)]) for j in range(len(lo))]
            b += [hi[j] - base[j] for j in range(len(lo))]
            A += [np.concatenate([-M[j], np.zeros(r)]) for j in range(len(lo))]
            b += [base[j] - lo[j] for j in range(len(lo))]
            for i in range(r):
                e = np.eye(r)[i]
                A += [np.concatenate([e, -e]), np.concatenate([-e, -e])]
                b += [0.0, 0.0]
            bounds = [(scm.variable(k).lower - xs[i], scm.variable(k).upper - xs[i]) for i, k in enumerate(S)]
            res = linprog(c, A_ub=np.array(A), b_ub=np.array(b), bounds=bounds + [(0, None)] * r, method="highs")
            if res.status == 0:
                best = min(best, res.fun)
    return best


def test_box_matches_lp_reference_and_binds(chain) -> None:
    scm, clf, denied, ref = chain
    data_box = box_plausibility(scm, ref)
    q = ref[list(scm.names)].quantile([0.1, 0.9])   # a tighter box (10-90 % ranges), so that it binds
    tight = Plausibility(kind="box", lower=dict(q.iloc[0]), upper=dict(q.iloc[1]), source="10-90 % ranges")
    bound_once = False
    for i in range(8):
        x = denied.iloc[i].to_numpy(float)
        free = solve(RecourseProblem(scm, clf, denied.iloc[i]))
        for pl in (data_box, tight):
            res = solve(RecourseProblem(scm, clf, denied.iloc[i], plausibility=pl))
            ref_cost = _lp_reference(scm, clf, x, pl)
            if not np.isfinite(ref_cost):
                assert res.status is Status.NO_RECOURSE
                continue
            assert res.status is Status.OPTIMAL, res.message
            cf = np.array([res.counterfactual[n] for n in scm.names])
            assert all(pl.lower[n] - 1e-6 <= cf[j] <= pl.upper[n] + 1e-6 for j, n in enumerate(scm.names))
            assert res.cost == pytest.approx(ref_cost, rel=1e-5, abs=1e-6)
            bound_once |= res.cost > free.cost + 1e-4
    assert bound_once, "the tight box never raised a cost: the test does not exercise the constraint"


def test_box_defaults_to_scm_domains(chain) -> None:
    scm = chain[0]
    pl = parse_plausible("box", scm)
    assert pl.lower["x3"] == -7 and pl.upper["x3"] == 7 and "domains" in pl.source


def _grid_best(scm, clf, x, pl, p: int, act=("a", "b"), n: int = 201) -> float:
    """Cheapest action on a dense grid (each single feature, then pairs) satisfying classifier and density."""
    noise = scm.abduct(x)
    axes = {k: np.linspace(scm.variable(k).lower, scm.variable(k).upper, n) for k in act}
    best = np.inf
    for r in (1, 2):
        for S in itertools.combinations(act, r):
            mesh = np.meshgrid(*[axes[k] for k in S], indexing="ij")
            do = {k: m.ravel() for k, m in zip(S, mesh)}
            N = mesh[0].size
            X = scm.predict_from_noise(np.repeat(noise[None], N, axis=0), do)
            ok = clf.predict_proba(X)[:, 1] >= 0.5
            ok &= scm.log_density(X) >= pl.threshold
            cost = sum(np.abs(do[k] - x[scm.index(k)]) ** p for k in S)
            if ok.any():
                best = min(best, float(cost[ok].min()))
    return best


@pytest.mark.parametrize("p", [1, 2])
def test_density_answer_is_plausible_and_no_grid_point_is_cheaper(lg, p: int) -> None:
    scm, clf, denied, data = lg
    pl = density_plausibility(scm, 50, data)
    act = Actionability(actionable=("a", "b"))
    bound_once = False
    for i in range(6):
        x = denied.iloc[i].to_numpy(float)
        res = solve(RecourseProblem(scm, clf, denied.iloc[i], actionability=act, cost=CostSpec(p=p), plausibility=pl))
        grid = _grid_best(scm, clf, x, pl, p)
        if res.status is Status.NO_RECOURSE:
            assert not np.isfinite(grid)
            continue
        assert res.status is Status.OPTIMAL, res.message
        cf = np.array([res.counterfactual[n] for n in scm.names])
        assert scm.log_density(cf) >= pl.threshold - 1e-6 * max(1.0, abs(pl.threshold))
        assert clf.predict_proba(cf[None])[0, 1] >= 0.5
        assert res.cost <= grid + 1e-6    # the grid finds nothing cheaper that satisfies the constraint
        free = solve(RecourseProblem(scm, clf, denied.iloc[i], actionability=act, cost=CostSpec(p=p)))
        bound_once |= res.cost > free.cost + 1e-4
    assert bound_once, "the density constraint never raised a cost"


def test_density_no_recourse_proven_by_cuts(lg) -> None:
    """A person whose plausible region misses the favourable half-space only inside the axis box of the ball: the
    relaxation is feasible, the cuts prove infeasibility, a second backend confirms it (its own cut rounds)."""
    scm, clf, denied, data = lg
    pl = density_plausibility(scm, 20, data)
    for i in (2, 5):
        res = solve(RecourseProblem(scm, clf, denied.iloc[i], actionability=Actionability(actionable=("a", "c")),
                                    plausibility=pl))
        assert res.status is Status.NO_RECOURSE
        assert res.certificate["proven"] and res.certificate["kind"] == "solver", res.certificate
        assert not np.isfinite(_grid_best(scm, clf, denied.iloc[i].to_numpy(float), pl, 1, act=("a", "c")))
        free = solve(RecourseProblem(scm, clf, denied.iloc[i], actionability=Actionability(actionable=("a", "c"))))
        assert free.status is Status.OPTIMAL   # recourse exists without the constraint


def test_explain_keeps_plausibility_as_background(lg) -> None:
    """The no-recourse person above: dropping 'you cannot change b' gives a plausible action; the cheapest
    relaxation (its one-shot MILP re-solved with the ball's cuts) names it, at the exact solver's cost."""
    from milp_recourse.diagnose.conflicts import check_feasible, relax
    from milp_recourse.diagnose.relaxations import cheapest_relaxation

    scm, clf, denied, data = lg
    pr = RecourseProblem(scm, clf, denied.iloc[2], actionability=Actionability(actionable=("a", "c")),
                         plausibility=density_plausibility(scm, 20, data))
    feas = check_feasible(relax(pr, ["fixed:b"]))
    assert feas.feasible and verify_action(relax(pr, ["fixed:b"]), feas.action).ok
    rel = cheapest_relaxation(pr)
    assert rel.status == "optimal" and [g.key for g in rel.groups] == ["fixed:b"]
    assert rel.cost == pytest.approx(solve(relax(pr, ["fixed:b"])).cost, rel=1e-6)


def test_density_semantics_closed_form(lg) -> None:
    """log p(x_cf) = log p(x) + sum over intervened k of [log p_k(u'_k) - log p_k(u_k)]: the non-intervened
    nodes keep their abducted noise, hence their terms."""
    scm, _, denied, _ = lg
    rng = np.random.default_rng(0)
    na, nb, nc = (scm.noises[scm.variable(n).noise_name] for n in scm.names)
    for i in range(5):
        x = denied.iloc[i].to_numpy(float)
        u = scm.abduct(x)
        ta, tb = rng.uniform(-3, 3, 2)
        for do in ({"a": ta}, {"b": tb}, {"a": ta, "b": tb}):
            cf = scm.predict_from_noise(u, do)
            delta = 0.0
            if "a" in do:
                delta += na.logpdf(cf[0]) - na.logpdf(u[0])
            if "b" in do:
                delta += nb.logpdf(cf[1] - 0.8 * cf[0]) - nb.logpdf(u[1])
            assert scm.log_density(cf) == pytest.approx(scm.log_density(x) + delta, abs=1e-9)


def test_verification_counts_a_violation(lg, chain) -> None:
    scm, clf, denied, data = lg
    pl = density_plausibility(scm, 50, data)
    prob = RecourseProblem(scm, clf, denied.iloc[0], plausibility=pl)
    ver = verify_action(prob, {"a": 5.9})
    assert not ver.ok and any("log-density" in v for v in ver.violations)
    cscm, cclf, cden, _ = chain
    box = Plausibility(kind="box", lower={n: -8.0 for n in cscm.names},
                       upper={n: 8.0 for n in cscm.names} | {"x3": 0.0}, source="test")
    ver = verify_action(RecourseProblem(cscm, cclf, cden.iloc[0], plausibility=box), {"x3": 5.0})
    assert not ver.ok and any("x3" in v and "plausible box" in v for v in ver.violations)


def test_refusals_name_the_variable_and_noise(lg, chain) -> None:
    scm, clf, denied, ref = chain
    pl = density_plausibility(scm, 50, ref)
    with pytest.raises(InputError, match=r"'x1'.*'u1'.*mixture"):
        RecourseProblem(scm, clf, denied.iloc[0], plausibility=pl)
    # x1 not actionable: it cannot change, and x2, x3 have additive Gaussian noise -> accepted and solved
    res = solve(RecourseProblem(scm, clf, denied.iloc[0], actionability=Actionability(actionable=("x2", "x3")),
                                plausibility=pl))
    assert res.status in (Status.OPTIMAL, Status.NO_RECOURSE)
    spec = {"name": "mult", "variables": [_var("a", "u_a", -6, 6),
                                          _var("b", "exp(0.3*a + u_b)", 0.001, 1000)]}
    mscm = scm_from_dict(spec)
    mX = mscm.sample(300, seed=0)[["a", "b"]]
    mclf = LogisticRegression().fit(mX, (mX.b > 1.2).astype(int))
    person = mX[mclf.predict(mX) == 0].iloc[0]
    with pytest.raises(InputError, match=r"'b'.*not additive in its noise 'u_b'"):
        RecourseProblem(mscm, mclf, person, plausibility=density_plausibility(mscm, 50, mX))
    for bad in ("density:0", "density:100", "density:x", "dense:5", "boxes"):
        with pytest.raises(InputError, match=bad):
            parse_plausible(bad, scm)


def test_box_search_is_not_taken(lg) -> None:
    scm, clf, denied, data = lg
    prob = RecourseProblem(scm, clf, denied.iloc[0], plausibility=box_plausibility(scm, data))
    assert "plausibility" in box_search_reason(prob)


def test_cli_plausible(tmp_path, capsys, lg) -> None:
    scm, clf, denied, data = lg
    (tmp_path / "scm.json").write_text(json.dumps(scm_to_dict(scm)))
    joblib.dump(clf, tmp_path / "clf.joblib")
    data.to_csv(tmp_path / "ref.csv", index=False)
    person = json.dumps({k: float(v) for k, v in denied.iloc[2].items()})
    base = ["solve", "--scm", str(tmp_path / "scm.json"), "--classifier", str(tmp_path / "clf.joblib"),
            "--individual", person, "--format", "json"]
    assert main(base + ["--plausible", "density:150"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "density:150" in err
    assert main(base + ["--plausible", "box", "--reference-data", str(tmp_path / "ref.csv")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["status"] == "OPTIMAL"
    lo, hi = data[list(scm.names)].min(), data[list(scm.names)].max()
    assert all(lo[n] - 1e-6 <= d["counterfactual"][n] <= hi[n] + 1e-6 for n in scm.names)
    assert main(base + ["--plausible", "density:50", "--reference-data", str(tmp_path / "ref.csv")]) == 0
    d = json.loads(capsys.readouterr().out)
    pl = density_plausibility(scm, 50, data)
    assert scm.log_density(np.array([d["counterfactual"][n] for n in scm.names])) >= pl.threshold - 1e-5


def test_study_method_exact_plausible(tmp_path) -> None:
    """The study's 'exact + plausible' method: every valid answer is inside the case's reference box (the study's
    own in_box metric), never cheaper than the exact solver on the same person; the report is written; a density
    constraint on an SCM whose actionable x1 has mixture noise is refused before solving."""
    from milp_recourse.evaluation.study import run_study, write_study
    from milp_recourse.evaluation.study_config import study_config

    cfg = {"name": "pl", "seed": 1, "methods": ["exact", "exact-plausible"], "support_widen": 0,
           "exact": {"heuristic_samples": 0, "time_limit": 20}, "bootstrap_resamples": 100,
           "baselines": {"exact-plausible": {"plausible": "box"}},
           "conditions": ["universal", {"kind": "hard", "sizes": [1]}],
           "cases": [{"name": "chain", "scm": "chain", "classifier": "recipe:logreg", "data": "sample", "n": 4,
                      "cost_p": 1, "reference_n": 300}]}
    run = run_study(study_config(cfg), log=lambda msg: None)
    raw = run.raw
    pl = raw[raw["method"] == "exact-plausible"].set_index(["condition", "person"])
    ex = raw[raw["method"] == "exact"].set_index(["condition", "person"])
    assert len(pl) == len(ex) == 8
    assert (pl.loc[pl["valid"], "in_box"] == 1.0).all()
    both = pl["valid"] & ex["valid"]
    assert both.any()
    assert (pl.loc[both, "cost"] >= ex.loc[both, "cost"] - 1e-6 * np.maximum(1.0, ex.loc[both, "cost"])).all()
    assert not (pl["valid"] & ~ex["valid"]).any()   # plausibility only removes actions
    write_study(run, tmp_path / "out")
    assert "exact-plausible" in (tmp_path / "out" / "report.md").read_text()
    cfg["baselines"] = {"exact-plausible": {"plausible": "density:30"}}
    with pytest.raises(InputError, match=r"'chain'.*'x1'"):
        run_study(study_config(cfg), log=lambda msg: None)
    cfg["baselines"] = {"exact-plausible": {"plausible": 3}}
    with pytest.raises(InputError, match="exact-plausible"):
        study_config(cfg)
