"""bounds.scm_boxes.counterfactual_forms for the fronts of many people at once (box_batch.py's SCM forms).

scm_boxes writes each SCM variable's counterfactual on a box as S theta + o +- r with a few numpy calls per
variable and front; on the CARMA case a round has a few hundred small fronts, so those calls' overhead was
about a quarter of the box search. Here the fronts of one intervention pattern are stacked, each box carrying
its person's values: the affine equations' per-person coefficients become per-box columns (the same products
and sums, box by box), the non-affine ones are evaluated on per-box constants, which is elementwise and so
the same numbers, as long as no power and no function other than max / min / abs / relu is applied (those
of a constant could round differently from a scalar than in an array: such equations keep their own call).
The slope intervals come from scm_boxes.slope_ranges, as in the one-person form. tests/test_box_batch.py
checks the numbers bit for bit against counterfactual_forms.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from milp_recourse.bounds.scm_boxes import add_slope_term, counterfactual_forms, slope_ranges
from milp_recourse.scm import expr as ex
from milp_recourse.scm.derivative import derivative
from milp_recourse.scm.nodes import Call, Pow

ELEMENTWISE = frozenset({"max", "min", "abs", "relu"})   # functions whose scalar and array values agree exactly


def forms_many(fronts: Sequence[tuple], chunk: int, memo: dict | None = None
               ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(S, o, r) of the network inputs on each box, per (state, dims, lo, hi) of box_search.BoxState fronts:
    counterfactual_forms(state.problem, state.plan, state.constants, dims, lo, hi)[:, state.inputs] (a front
    on its own in calls of `chunk` boxes). `memo` keeps each (state, pattern)'s stacking key across rounds."""
    memo = {} if memo is None else memo
    out: list = [None] * len(fronts)
    groups: dict[tuple, list[int]] = {}
    for k, (state, dims, _, _) in enumerate(fronts):
        key = ("forms", id(state), tuple(dims))
        if key not in memo:
            memo[key] = (_signature(state, dims), state)   # (the state kept: ids stay unique)
        sig = memo[key][0]
        if sig is None:
            out[k] = _one(state, dims, fronts[k][2], fronts[k][3], chunk)
        else:
            groups.setdefault(sig, []).append(k)
    for members in groups.values():
        state0, dims = fronts[members[0]][0], fronts[members[0]][1]
        sizes = [len(fronts[k][2]) for k in members]
        lo = np.concatenate([fronts[k][2] for k in members])
        hi = np.concatenate([fronts[k][3] for k in members])
        who = np.repeat(np.arange(len(members)), sizes)   # each box's member
        S, o, r = _stacked(state0, [fronts[k][0] for k in members], dims, lo, hi, who)
        S, o, r = S[:, state0.inputs], o[:, state0.inputs], r[:, state0.inputs]
        at = 0
        for k, n in zip(members, sizes):
            out[k] = (S[at:at + n], o[at:at + n], r[at:at + n])
            at += n
    return out


def _one(state, dims, lo: np.ndarray, hi: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = []
    for a in range(0, len(lo), chunk):
        S, o, r = counterfactual_forms(state.problem, state.plan, state.constants, dims, lo[a:a + chunk],
                                       hi[a:a + chunk])
        parts.append((S[:, state.inputs], o[:, state.inputs], r[:, state.inputs]))
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))  # type: ignore[return-value]


def _signature(state, dims) -> tuple | None:
    """The stacking key of a person's front: same SCM plan, pattern and inputs, and per changing variable the
    same kind of form (affine with the same parents, or mean-value); None when it must stay on its own."""
    plan, scm = state.plan, state.problem.scm
    kinds = []
    for name in scm.names:
        if name in dims or name not in plan.changing:
            continue
        if name in plan.affine and plan.affine[name].evaluate(state.constants) is not None:
            kinds.append((name, plan.affine[name].parents))
        elif any(isinstance(e, Pow) or (isinstance(e, Call) and e.func not in ELEMENTWISE)
                 for e in _nodes(scm.equations[name])):
            return None
        else:
            kinds.append((name, None))
    return (id(plan), id(scm), tuple(dims), tuple(state.inputs), tuple(kinds))


def _nodes(e):
    yield e
    for c in ex.children(e):
        yield from _nodes(c)


def _stacked(state0, states: list, dims: Sequence[str], lo: np.ndarray, hi: np.ndarray, who: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """counterfactual_forms over stacked boxes, box i of person states[who[i]] (see the module docstring)."""
    plan, scm = state0.plan, state0.problem.scm
    n, d = lo.shape
    ctr, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    col = {f: k for k, f in enumerate(dims)}
    S = np.zeros((n, len(scm.names), d))
    o = np.zeros((n, len(scm.names)))
    r = np.zeros((n, len(scm.names)))
    pos = {name: j for j, name in enumerate(scm.names)}
    xs = np.array([s.problem.x for s in states], float)[who]
    for j, name in enumerate(scm.names):
        if name in col:
            S[:, j, col[name]] = 1.0
        elif name not in plan.changing:
            o[:, j] = xs[:, j]
        elif name in plan.affine and (forms := [plan.affine[name].evaluate(s.constants) for s in states])[0]:
            off = np.array([f[1] for f in forms])[who]
            o[:, j] = off
            for q in forms[0][0]:
                a = np.array([f[0][q] for f in forms])[who]
                S[:, j] += a[:, None] * S[:, pos[q]]
                o[:, j] += a * o[:, pos[q]]
                r[:, j] += np.abs(a) * r[:, pos[q]]
        else:
            eq = scm.equations[name]
            derivs = plan.derivatives.get(name) or {q: derivative(eq, q)
                                                     for q in sorted(ex.names(eq) & plan.changing)}
            _mean_value_form(eq, derivs, states, who, pos, S, o, r, j, ctr, rad)
    return S, o, r


def _mean_value_form(eq, derivs, states: list, who: np.ndarray, pos, S, o, r, j: int, ctr: np.ndarray,
                     rad: np.ndarray) -> None:
    """scm_boxes._mean_value_form with each box's own person's constants."""
    n = ctr.shape[0]
    names = list(states[0].constants)
    env: dict[str, np.ndarray] = {c: np.array([s.constants[c] for s in states], float)[who] for c in names}
    centre, spread = {}, {}
    for q in derivs:
        k = pos[q]
        centre[q] = np.einsum("nd,nd->n", S[:, k], ctr) + o[:, k]
        spread[q] = np.einsum("nd,nd->n", np.abs(S[:, k]), rad) + r[:, k]
        env[q] = centre[q]
    with np.errstate(all="ignore"):
        f0 = np.broadcast_to(np.asarray(ex.evaluate(eq, env), float), (n,))
    o[:, j] = f0
    r[:, j] = np.where(np.isfinite(f0), 0.0, np.inf)
    consts = [{c: (v, v) for c, v in s.constants.items()} for s in states]
    for q, dq in derivs.items():
        with np.errstate(all="ignore"):
            add_slope_term(S, o, r, j, pos[q], *slope_ranges(dq, consts, who, centre, spread), ctr, spread[q])


__all__ = ["forms_many"]
