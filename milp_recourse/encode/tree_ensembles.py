"""The MILP for a set of trees (Misic's split-ordering formulation); a single tree is an ensemble of one.

Per feature f, the distinct split points still open over the inputs' bounds, sorted ascending, get binaries
``y[f,j] = [x_f goes left at split j]`` with ``y[f,j] <= y[f,j+1]``, linked to the input by big-M rows
from its interval. Per tree, continuous leaf weights ``z_l >= 0`` with ``sum z = 1``; for every open split
s on (f, j): ``sum z(leaves left of s) <= y[f,j]`` and ``sum z(leaves right of s) <= 1 - y[f,j]``. With
y binary this forces z onto the single reached leaf, so the score ``base + sum value_l z_l`` is exact.

Split regions (float32 semantics, see trees.py): sklearn sends x left iff ``float32(x) <= threshold``. The
MILP allows ``x <= t32`` on the left and ``x >= next32`` on the right, where t32 is the largest float32 at or
below the threshold and next32 its float32 successor (see ``_split_region``): the open band between them
(under one float32 ulp) is excluded, every value sklearn itself can hold is not. A solver point a hair
past t32 (feasibility tolerance) still rounds to t32 in float32 when |x| > ~2; closer to 0 the
independent verification is the judge.
Library ensembles (XGBoost, LightGBM, HistGradientBoosting: TreeEnsemble.gap g = 1e-6 relative, 10x the
MILP's feasibility tolerance) keep their regions g * max(u, |L|) away from the split (u = 1, or an input's own
magnitude when it is in tiny units: _input_unit) where the library holds
no data values: XGBoost (``float32(x) < c``, c a cut point = a data value) allows ``x <= c - g`` and ``x >= c``;
the float64 rule of LightGBM / HistGB (``x <= L``, TreeEnsemble.float32 False) allows ``x <= L - g`` and
``x >= L + g``. So a solver point within tolerance of a region is on the library's side. 0 is never cut off
its own side (LightGBM gives 0 its own bin, split off at L = +-1e-35): there the side holding 0 ends at 0.
The cost is the excluded band: a variable input (a counterfactual) cannot end inside it, so an optimum at a
split's edge costs up to g * max(1, |L|) more in the tree's input units (the answer is then pulled back onto the
edge by solver/answer_rules.onto_split_edges, judged by the library's own predict). Behind a scaler or a
mediator that is that band times the scale (or over the SCM's coefficient) in the feature's own units, so
relative to the cost it could exceed the optimality gap (an outside fuzz: HistGB behind MinMaxScaler over a ReLU
SCM, 2.9e-4 relative against the 1e-4 gap, before the pull). A person whose factual value lies in it
(HistGB's percentile thresholds can equal a training value) must move out; constants are decided by the exact
rule. Near 0 a counterfactual computed as 4e-16 instead of 0 takes LightGBM's other branch: the verification
judges.
Splits whose side is decided by the inputs' bounds (in particular constant inputs, decided exactly by
``x <= L``) get no binary and prune the unreachable subtree.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from milp_recourse.encode.input_prices import InputPrices
from milp_recourse.errors import ClassifierError, UnsupportedError
from milp_recourse.mip.ir import Affine, IRBuilder, single_column
from milp_recourse.models.trees import LEAF, TreeEnsemble, left_upper, to_tree_ensemble

LEFT, RIGHT, OPEN = 0, 1, 2


@dataclass(frozen=True)
class _Split:
    """An open split of one tree: the node, its (feature, L) key, and the reachable leaves on each side."""

    node: int
    key: tuple[int, float]
    left_leaves: tuple[int, ...]
    right_leaves: tuple[int, ...]


@dataclass(frozen=True)
class _TreeShape:
    leaves: tuple[int, ...]
    splits: tuple[_Split, ...]


@dataclass(frozen=True)
class _TreeNodes:
    """One tree as plain lists for the per-compile traversal: children, feature and left bound L per node
    (L = the ensemble's left_max of the threshold, computed once: it was a third of the traversal's time)."""

    left: list[int]
    right: list[int]
    feature: list[int]
    bound: list[float]     # left_max(threshold); unused at leaves


def _tree_nodes(ens: TreeEnsemble) -> tuple[_TreeNodes, ...]:
    """_TreeNodes of every tree of ens."""
    out = []
    for tree in ens.trees:
        leaf = np.asarray(tree.left) == LEAF
        bound = [0.0 if is_leaf else ens.left_max(float(t)) for is_leaf, t in zip(leaf.tolist(), tree.threshold)]
        out.append(_TreeNodes(np.asarray(tree.left).tolist(), np.asarray(tree.right).tolist(),
                              np.asarray(tree.feature).tolist(), bound))
    return tuple(out)


def _reachable(tree: _TreeNodes, bounds: dict[int, tuple[float, float]],
               prices: InputPrices | None = None) -> _TreeShape:
    """Reachable leaves and open splits of a tree, pruning subtrees cut off by splits the inputs' bounds decide
    (x <= L for the whole interval: left; x > L for all of it: right) and, with `prices`, subtrees whose box
    no action within the budget reaches. A split with one side so dropped stays open: its rows force the
    inputs away from that side (a cost-decided side is not implied by the bounds)."""
    order: list[int] = []
    side: dict[int, int] = {}
    left, right, feature, bound = tree.left, tree.right, tree.feature, tree.bound
    stack: list[tuple[int, dict[int, tuple[float, float]]]] = [(0, {})]
    limit = prices.limit if prices is not None else 0.0
    while stack:
        node, box = stack.pop()
        order.append(node)
        if left[node] == LEAF:
            continue
        f = feature[node]
        lo, hi = bounds[f]
        L = bound[node]
        sd = side[node] = LEFT if hi <= L else (RIGHT if lo > L else OPEN)
        if sd == OPEN and prices is not None and prices.priced(f):
            flo, fhi = box.get(f, (-np.inf, np.inf))
            lbox, rbox = {**box, f: (flo, min(fhi, L))}, {**box, f: (max(flo, L), fhi)}
            if prices.box_cost(lbox) <= limit:
                stack.append((left[node], lbox))
            if prices.box_cost(rbox) <= limit:
                stack.append((right[node], rbox))
            continue
        if sd != RIGHT:
            stack.append((left[node], box))
        if sd != LEFT:
            stack.append((right[node], box))
    under: dict[int, tuple[int, ...]] = {}
    splits: list[_Split] = []
    for node in reversed(order):  # children before parents
        if left[node] == LEAF:
            under[node] = (node,)
            continue
        sd = side[node]
        lft = under.get(left[node], ()) if sd != RIGHT else ()
        rgt = under.get(right[node], ()) if sd != LEFT else ()
        under[node] = lft + rgt
        if sd == OPEN and (lft or rgt):
            splits.append(_Split(node, (feature[node], bound[node]), lft, rgt))
    return _TreeShape(under.get(0, ()), tuple(splits))


def _margin(v: float, split_margin: float) -> float:
    return split_margin * max(1.0, abs(v))


TINY_INPUT = 1e-2   # an input whose every value lies within +-this is in tiny units (see _input_unit)


def _input_unit(lo: float, hi: float) -> float:
    """The unit a library gap is measured in for an input over [lo, hi]: 1, or for an input in tiny units (every
    value within +-TINY_INPUT, e.g. income x 1e-4) the power of two at or below its largest magnitude. Its split
    rows are divided by it, so the solver's tolerances and the gap keep their ratio: with a gap of an absolute
    1e-6, an input in units 1e-4 lost 1 % of a unit at every split (LightGBM behind a mediator: OPTIMAL 1.8 %
    above the optimum, and NO_RECOURSE at units 5e-5; an outside fuzz)."""
    top = max(abs(lo), abs(hi))
    if not (0.0 < top < TINY_INPUT):
        return 1.0
    return float(2.0 ** math.floor(math.log2(top)))


def _split_region(L: float, split_margin: float, float32: bool = True, gap: float = 0.0,
                  lattice: tuple[float, float] | None = None, unit: float = 1.0) -> tuple[float, float]:
    """(largest left value, smallest right value) the MILP allows around a split with left bound L.

    sklearn compares float32(x) with the threshold, so the float32 values next to it decide: t32 (the
    largest float32 at or below the threshold) is the last left value and its float32 successor the first
    right one. The MILP excludes exactly the open band between them (less than one float32 ulp), so values
    sklearn itself can hold (integers, data values) are never excluded; an optional extra `split_margin`
    (relative) widens the band for users who prefer robustness to round-off over exactness.
    With a library gap (see the module docstring) the regions keep gap * max(unit, |threshold|) from the split
    (`unit`: _input_unit, 1 unless the input is in tiny units).
    `lattice` (step, offset): the input takes only the values offset + step * n, n integer (an integer feature,
    maybe scaled). At an XGBoost split the library sends a value right iff it is at least the float32 rounding
    edge below the cut, so the first lattice value at or above that edge goes right and the one before it left;
    the regions meet halfway between them, far from both (a solver tolerance cannot move a lattice value
    across). A scaled integer whose float64 value rounds onto an XGBoost cut (a cut is the float32 of a scaled
    data value) lies a hair below the cut and goes right (an outside fuzz: k = 2 behind a StandardScaler was
    excluded). scikit-learn's thresholds are midpoints between data values, where no integer lies: their
    regions stay.
    """
    extra = split_margin * max(1.0, abs(L))
    if float32:
        t32 = np.float32(L)                      # L rounds down to the float32 threshold value
        left, right = float(t32), float(np.nextafter(t32, np.float32(np.inf)))
        if lattice is not None and gap > 0.0:    # XGBoost's cut: the float32 of a (scaled) data value
            step, offset = abs(lattice[0]), lattice[1]
            edge = float(np.nextafter(left_upper(float(t32)), np.inf))   # the least x with float32(x) > t32
            first = offset + step * math.ceil((edge - offset) / step)   # the first lattice value going right
            while first < edge:
                first += step
            while first - step >= edge:
                first -= step
            mid = first - step / 2.0
            return mid - extra, mid + extra
        if gap > 0.0:                          # XGBoost: the cut point `right` is a data value; keep it
            left = min(left, right - gap * max(unit, abs(right)))
    else:
        g = max(gap * max(unit, abs(L)), float(np.spacing(np.float32(abs(L)))) / 2.0)
        left, right = L - g, L + g
    if left < 0.0 <= L:                          # 0 goes left: never cut it off (LightGBM's zero bin)
        left = 0.0
    elif L < 0.0 < right and not float32:        # 0 goes right
        right = 0.0
    return left - extra, right + extra


def _lattice(b: IRBuilder, x: Affine) -> tuple[float, float] | None:
    """(c, const) when the input is c * n + const for one integer column n with |c| >= 1e-5 (an integer feature,
    maybe scaled: values at least 1e-5 apart, 100x the solver tolerance), else None."""
    one = single_column(x)
    return (one[1], one[2]) if one is not None and b.is_integer(one[0]) and abs(one[1]) >= 1e-5 else None


def _raw_input(b: IRBuilder, x: Affine) -> tuple[tuple[int, float, float], Callable[[float], float]] | None:
    """The raw input (column, 1, offset) behind a tree input and the map from a raw value to the input's value: the
    identity, or a pipeline's scalers' own arithmetic (IRBuilder.scaled_from); None for any other input."""
    key = single_column(x)
    if key is None:
        return None
    raw, exact = b.scaled_from.get(key, (key, None))   # behind a scaler: its own arithmetic gives the input
    if raw[1] != 1.0 or (exact is None and key[1] != 1.0):
        return None
    return raw, (exact if exact is not None else float)


def _known_sides(b: IRBuilder, x: Affine, L: float) -> Affine | None:
    """For an input `d + offset` whose column d takes only known values (IRBuilder.values_of: a grid feature's
    shift, the input being the feature itself, or its image under a pipeline's scalers: IRBuilder.scaled_from,
    with their own arithmetic), the 0/1 expression that is 1 exactly when the feature's
    value goes left by scikit-learn's own rule: value <= L, L = left_upper(threshold) (trees.py): the sum of the
    left values' indicators. Else None (the region rows then apply). The regions alone let a value in
    the excluded float32 band, or within the solver's tolerance of it, sit on either side (an outside fuzz: a grid
    value equal to a threshold whose float32 rounds up went left in the MILP, right in predict:
    VERIFICATION_FAILED, and a spurious bound); widening the regions to hold such values left rows a float apart,
    on which HiGHS's presolve answered 'solve error'."""
    found = _raw_input(b, x)
    values = None if found is None else b.values_of.get(found[0][0])
    if found is None or not values:
        return None
    (_, _, offset), to_input = found
    left = Affine.constant(0.0)
    for shift, value, indicator in values:
        if abs(shift + offset - value) > 1e-9 * max(1.0, abs(value)):
            return None   # the raw input is not the feature itself
        if to_input(value) <= L:
            left = left + indicator
    return left


def _sides_when(b: IRBuilder, x: Affine, L: float) -> tuple[Affine, Affine, Affine] | None:
    """For an input that takes one of known values only when an indicator is on (IRBuilder.values_when: a grid
    feature whose parent also changes, maybe behind a pipeline's scalers), (that indicator, the sum of the indicators
    of the values going left by scikit-learn's rule value <= L, the sum of those going right); else None. An outside
    fuzz: with the float32 band rows alone, a grid value equal to a threshold sat in the excluded band, HiGHS called
    the cheapest action infeasible and the answer came back FEASIBLE and dearer (4.28 against 3.28)."""
    found = _raw_input(b, x)
    known = None if found is None or found[0][2] != 0.0 else b.values_when.get(found[0][0])
    if found is None or known is None:
        return None
    to_input = found[1]
    left, right = Affine.constant(0.0), Affine.constant(0.0)
    for value, indicator in known[1]:
        if to_input(value) <= L:
            left = left + indicator
        else:
            right = right + indicator
    return known[0], left, right


def _split_binaries(b: IRBuilder, inputs: Sequence[Affine], bounds: dict[int, tuple[float, float]],
                    keys: set[tuple[int, float]], split_margin: float, group: str,
                    float32: bool = True, gap: float = 0.0) -> dict[tuple[int, float], int]:
    """One binary per open (feature, L), ordered per feature and linked to the input by big-M."""
    ys: dict[tuple[int, float], int] = {}
    for f in sorted({k[0] for k in keys}):
        lo, hi = bounds[f]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise UnsupportedError(f"Tree input {f} has interval [{lo}, {hi}]; tree splits need finite bounds "
                                   "on every input to derive big-M values.")
        x, rows = inputs[f], f"{group}:split:f{f}"
        lattice = _lattice(b, x)
        unit = _input_unit(lo, hi)   # (1 but for an input in tiny units; its region rows are divided by it)
        previous: int | None = None
        for j, L in enumerate(sorted(L for g, L in keys if g == f)):
            y = b.add_binary(f"{group}.split[f{f},{j}]<={float(L)!r}")   # solver/interval_costs.py reads L
            Y = Affine.column(y)
            sklearn = float32 and gap == 0.0 and split_margin == 0.0
            exact = _known_sides(b, x, L) if sklearn else None
            when = _sides_when(b, x, L) if sklearn and exact is None else None
            if exact is not None:
                b.add_eq(Y - exact, 0.0, rows)                    # y = 1 exactly when the value taken goes left
            else:
                left_ub, right_lb = _split_region(L, split_margin, float32, gap, lattice, unit)
                on = Affine.constant(0.0)
                if when is not None:   # a known value taken: its side exactly, and the region rows give way
                    on, left, right = when
                    b.add_le(left - Y, 0.0, rows)                     # a left value taken  ->  y = 1
                    b.add_le(right + Y, 1.0, rows)                    # a right value taken ->  y = 0
                k = 1.0 / unit   # (a power of two: exact); y = 1 -> x <= L - m_L, y = 0 -> x >= R
                b.add_le((x + Y * (hi - left_ub) - on * max(hi - left_ub, 0.0)) * k, hi * k, rows)
                b.add_ge((x + Y * (right_lb - lo) + on * max(right_lb - lo, 0.0)) * k, right_lb * k, rows)
            if previous is not None:
                b.add_le(Affine.column(previous) - Y, 0.0, rows)  # x <= t_j  implies  x <= t_{j+1}
            ys[(f, L)], previous = y, y
    return ys


def encode_tree_ensemble(ens: TreeEnsemble, b: IRBuilder, inputs: Sequence[Affine], *, split_margin: float,
                         group: str, nodes: tuple[_TreeNodes, ...] | None = None,
                         prices: InputPrices | None = None) -> Affine:
    """Exact score of a tree ensemble on affine inputs (columns in the model's feature order); `nodes`: the
    ensemble's _tree_nodes when the caller keeps them (encode_trees, across compiles); `prices`: leaves no
    action within its budget reaches are left out (encode/input_prices.py; exact for actions within it)."""
    if len(inputs) != ens.n_features:
        raise ClassifierError(f"The tree ensemble expects {ens.n_features} inputs; got {len(inputs)} "
                              "input expressions.")
    nodes = nodes if nodes is not None else _tree_nodes(ens)
    used = sorted({f for tree in nodes for f, lf in zip(tree.feature, tree.left) if lf != LEAF})
    bounds = {f: b.bounds_of(inputs[f]) for f in used}
    shapes = [_reachable(tree, bounds, prices) for tree in nodes]
    keys = {s.key for shape in shapes for s in shape.splits}
    ys = _split_binaries(b, inputs, bounds, keys, split_margin, group, ens.float32, ens.gap)
    terms: dict[int, float] = {}
    const = float(ens.base)
    for t, (tree, shape) in enumerate(zip(ens.trees, shapes)):
        if len(shape.leaves) == 1 and not shape.splits:   # one leaf the bounds force: a constant
            const += float(tree.value[shape.leaves[0]])
            continue
        rows = f"{group}:tree{t}"
        z = {leaf: b.add_var(f"{group}.tree{t}.leaf{leaf}", 0.0, 1.0) for leaf in shape.leaves}
        b.add_eq(Affine({j: 1.0 for j in z.values()}), 1.0, rows)
        for s in shape.splits:
            y = ys[s.key]
            b.add_le(Affine({z[leaf]: 1.0 for leaf in s.left_leaves}) - Affine.column(y), 0.0, rows)
            b.add_le(Affine({z[leaf]: 1.0 for leaf in s.right_leaves}) + Affine.column(y), 1.0, rows)
        for leaf, j in z.items():
            v = float(tree.value[leaf])
            if v != 0.0:
                terms[j] = terms.get(j, 0.0) + v
    return Affine(terms, const)


def encode_trees(model: Any, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *, split_margin: float,
                 group: str, prices: InputPrices | None = None) -> Affine:
    """Registry entry for every family with a tree adapter (sklearn trees and forests, GradientBoosting,
    HistGradientBoosting, XGBoost, LightGBM)."""
    ens, nodes = _prepared(model, target_index)
    return encode_tree_ensemble(ens, b, inputs, split_margin=split_margin, group=group, nodes=nodes, prices=prices)


_PREPARED: "weakref.WeakKeyDictionary[Any, tuple[Any, TreeEnsemble, tuple[_TreeNodes, ...]]]" = \
    weakref.WeakKeyDictionary()   # a cache: every person's compile (and each budget stage's) reuses the trees


def _prepared(model: Any, target_index: int) -> tuple[TreeEnsemble, tuple[_TreeNodes, ...]]:
    """The model's ensemble and traversal lists, built once per model and class while its fitted trees are the
    same objects (a refit replaces them and rebuilds these); models that refuse weak references are not kept."""
    stamp = (target_index, id(getattr(model, "estimators_", None)), id(getattr(model, "tree_", None)),
             id(getattr(model, "_predictors", None)), id(getattr(model, "_Booster", None)),
             id(getattr(model, "booster_", None)))
    try:
        hit = _PREPARED.get(model)
    except TypeError:
        hit = None
    if hit is not None and hit[0] == stamp:
        return hit[1], hit[2]
    ens = to_tree_ensemble(model, target_index)
    nodes = _tree_nodes(ens)
    try:
        _PREPARED[model] = (stamp, ens, nodes)
    except TypeError:
        pass
    return ens, nodes


__all__ = ["encode_tree_ensemble", "encode_trees"]
