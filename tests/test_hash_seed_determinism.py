"""Answers must not depend on the process's hash seed: iterating a set of names (scm/nodes.names returns a
frozenset) while building the MILP changed its column / row order with PYTHONHASHSEED, and with ties (a max cost)
the small branch and bound then picked a different optimal action, so `solve_options` found a third option in one
process and none in another (an outside fuzz: batch --options against solve_options). Each child process compiles
the same problems and prints a digest of every array of the model, then the options' answers; all must agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r'''
import hashlib, warnings
import numpy as np, pandas as pd
warnings.filterwarnings("ignore")
from sklearn.neural_network import MLPClassifier
from milp_recourse import Actionability, CostSpec, RecourseProblem, SolveOptions, load_scm, solve
from milp_recourse.encode.compile import compile_problem
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.spec import scm_from_dict
from milp_recourse.solver.options import solve_options

def digest(model):
    h = hashlib.sha256()
    for a in (model.c, model.col_lb, model.col_ub, model.integrality, model.A.data, model.A.indices, model.A.indptr,
              model.row_lo, model.row_hi):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("|".join(model.col_names + model.row_groups).encode())
    return h.hexdigest()[:16]

cat = lambda k: dict(dist="categorical", probs=[1.0 / k] * k)
spec = dict(name="ties", variables=[
  dict(name="x0", type="binary", domain=[0, 1], actionability="actionable", equation="u0",
       noise=dict(name="u0", dist="bernoulli", p=0.5)),
  dict(name="x1", type="continuous", domain=[-15, 15], actionability="actionable", equation="-0.62 + 0.55*x0 + u1",
       noise=dict(name="u1", dist="normal", mean=0, std=0.58)),
  dict(name="x2", type="binary", domain=[0, 1], actionability="actionable", equation="u2",
       noise=dict(name="u2", dist="bernoulli", p=0.5)),
  dict(name="x3", type="integer", domain=[-40, 50], actionability="actionable", equation="x0 + 2*x2 + u3",
       noise=dict(name="u3", **cat(10))),
  dict(name="x4", type="continuous", domain=[-15, 15], actionability="immutable",
       equation="0.39 + 0.66*x0 - 0.44*x1 + 1.02*x2 - 0.07*x3 - 0.6*max(x1 - 0.77, 0) + u4",
       noise=dict(name="u4", dist="normal", mean=0, std=0.66))])
scm = scm_from_dict(spec)
names = list(scm.names)
m = MLPClassifier((3,), max_iter=1)
m.fit(pd.DataFrame(np.random.default_rng(0).normal(size=(20, 5)), columns=names), [0, 1] * 10)
m.coefs_ = [np.array([[0.0, -0.39361687094234793, 0.27640486988748575], [0.0, 0.25286160047202133, 0.09214166840051208],
                      [0.0, 0.13502453030574804, 0.4044350249662946], [0.0, 0.36133875953657996, 0.43972270374067823],
                      [0.0, -0.22770617321106768, -0.7711632227736016]]),
            np.array([[0.0], [0.9307247118592684], [1.7945724629872273]])]
m.intercepts_ = [np.array([-0.7151130298734742, -1.4878998156177585, -0.7699840880695321]),
                 np.array([-3.0275213868731137])]
x = dict(x0=1.0, x1=-0.39971979100014526, x2=1.0, x3=5.0, x4=1.1216579565601836)
ties = RecourseProblem(scm, m, x, actionability=Actionability(directions={"x3": "down"}),
                       cost=CostSpec(aggregate="max"), options=SolveOptions(time_limit=30, threshold=0.4))
loan = load_scm("loan")
people = loan.sample(40, seed=5)
for recipe in ("mlp", "tree", "logreg"):
    clf = train_recipe(loan, recipe, 600, 0)
    row = people[clf.predict(people[list(loan.names)].to_numpy(float)) == 0].iloc[0].to_dict()
    for p in (1, 2):
        problem = RecourseProblem(loan, clf, row, cost=CostSpec(p=p))
        res = solve(problem)   # (the MLP at p = 2: the box search's patterns; the tree: the budget schedule)
        print(recipe, p, digest(compile_problem(problem).model), res.status.name, repr(res.cost), res.action)
print("ties", digest(compile_problem(ties).model))
for r in solve_options(ties, 3):
    print(r.status.name, r.cost if r.cost is None else round(r.cost, 9), sorted(r.action))
'''


@pytest.mark.parametrize("seeds", [("0", "1", "2")])
def test_models_and_options_do_not_depend_on_the_hash_seed(seeds, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root = Path(__file__).resolve().parents[1]
    outs = []
    for seed in seeds:
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        outs.append(run.stdout)
    assert outs[0].count("\n") >= 10
    assert all(out == outs[0] for out in outs), "\n---\n".join(outs)
