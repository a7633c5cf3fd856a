"""Denied people of a 20-tree forest over a random linear SCM, whose models are big enough for the budget schedule
(three with p = 1, two with p = 2): shared by test_budget.py and test_stage_window.py."""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier

from milp_recourse import CostSpec, RecourseProblem, SolveOptions
from milp_recourse.models.recipes import labelled_sample
from milp_recourse.scm.random_linear import random_linear_scm
from milp_recourse.solver.many import screen


def forest_people() -> list[RecourseProblem]:
    scm = random_linear_scm(6, seed=4)
    X, y = labelled_sample(scm, 3000, 0)
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
    out = []
    for p, n in ((1, 3), (2, 2)):
        cands = [RecourseProblem(scm=scm, classifier=forest, individual=x, cost=CostSpec(p=p),
                                 options=SolveOptions(time_limit=60.0))
                 for x in scm.sample(80, seed=7).to_numpy(float)]
        out += [pr for pr, fav in zip(cands, screen(cands)) if not fav][:n]
    return out
