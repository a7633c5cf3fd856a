"""Denied people for solver tests: SCM samples that a recipe-trained classifier does not favour."""

from __future__ import annotations

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, load_scm
from milp_recourse.models.recipes import train_recipe
from milp_recourse.solver.many import screen


def denied_problems(scm_name: str, recipe: str, seed: int, keep: int, candidates: int = 60,
                    cost: CostSpec = CostSpec(p=2), time_limit: float = 30.0, closed_form: bool = True
                    ) -> list[RecourseProblem]:
    """The first `keep` of `candidates` samples of the SCM that the recipe's classifier (trained on 2000
    labelled samples) denies, as RecourseProblems with `cost` (closed_form: SolveOptions.closed_form)."""
    scm = load_scm(scm_name)
    clf = train_recipe(scm, recipe, n=2000)
    cands = [RecourseProblem(scm=scm, classifier=clf, individual=x, cost=cost,
                             options=SolveOptions(time_limit=time_limit, closed_form=closed_form))
             for x in scm.sample(candidates, seed=seed).to_numpy(float)]
    return [pr for pr, fav in zip(cands, screen(cands)) if not fav][:keep]
