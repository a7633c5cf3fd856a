"""Linear upper bounds of a ReLU network's score over boxes of actions (back-substitution, as in CROWN).

For boxes lo <= theta <= hi whose network inputs are x = S theta + o, up to |error| <= r per input, every
layer's pre-activation bounds are taken by back-substituting through the ReLU relaxations of the layers
below (upper line u (z - l) / (u - l), lower line 0 or z, whichever is closer), and the score gets one
linear upper bound g . theta + h valid on the whole box. Everything is vectorised over the boxes; no solver.
Used by input_bnb.py, where boxes shrink until the bounds are exact (all ReLUs stable in a box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from milp_recourse.models.adapter import relu_layers   # the network as layers on its own inputs (re-exported)

Layer = tuple[np.ndarray, np.ndarray]  # (W of shape (out, in), b of shape (out,))


@dataclass(frozen=True)
class ScoreBound:
    """score <= g . theta + h on each box (g: (n, d), h: (n,)), and top: that line's maximum over the box."""

    g: np.ndarray
    h: np.ndarray
    top: np.ndarray


def relu_forward(layers: list[Layer], X: np.ndarray) -> np.ndarray:
    """The network's output on the rows of X (the target-class logit when layers come from relu_layers)."""
    h = np.asarray(X, float)
    for W, c in layers[:-1]:
        h = np.maximum(h @ W.T + c, 0.0)
    W, c = layers[-1]
    return h @ W[0] + c[0]


def _relaxation(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
    """Slopes/intercept of relu's upper line and the lower line's slope, per unit (stable units exact), then
    the active units as 0 / 1 and the unstable units' positions (for _back's shortcut), and E = su - sl on the
    unstable units, 0 elsewhere (Mp * su + Mn * sl = M * sl + Mp * E: column scalings, for _signed_first)."""
    active, dead = l >= 0, u <= 0
    unstable = ~active & ~dead
    width = np.where(unstable, u - l, 1.0)
    su = np.where(active, 1.0, np.where(dead, 0.0, u / width))
    iu = np.where(unstable, -su * l, 0.0)
    sl = np.where(active, 1.0, np.where(unstable & (u > -l), 1.0, 0.0))
    return su, iu, sl, active.astype(float), np.nonzero(unstable), np.where(unstable, su - sl, 0.0)


def _back(M: np.ndarray, Mp: np.ndarray, Mn: np.ndarray, relax: tuple) -> np.ndarray:
    """Mp * su + Mn * sl per box (M: (p, w) for every box or (n, p, w); Mp, Mn its positive and negative parts).

    An active unit's su = sl = 1 gives Mp + Mn = M, a dead one's 0 gives 0, so all of them are M * active (one
    product, the same numbers up to the sign of a zero); only the few unstable units are computed in full."""
    su, _, sl, active, (rows, units) = relax[:5]
    lam = M * active[:, None, :]
    if rows.size:
        if M.ndim == 2:
            lam[rows, :, units] = Mp[:, units].T * su[rows, units][:, None] + Mn[:, units].T * sl[rows, units][:, None]
        else:
            lam[rows, :, units] = (Mp[rows, :, units] * su[rows, units][:, None]
                                   + Mn[rows, :, units] * sl[rows, units][:, None])
    return lam


def _upper_line(layers: list[Layer], relax: list, k: int, lam: np.ndarray | None, S: np.ndarray, o: np.ndarray,
                r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lam (n, p, width of z_k) times z_k is at most G theta + h on the box: back through layers k-1 .. 1.

    lam None stands for the rows [I; -I] of every box (both signs of every unit of z_k): their products with
    layer k's W and b are exactly [W; -W] and [b; -b], taken without the matmuls (2 x width x width
    multiply-adds per box, two thirds of the work on the CARMA network)."""
    signed = None
    if lam is None:
        W, b = layers[k - 1]
        signed, const = np.concatenate([W, -W]), np.concatenate([b, -b])
        if k == 2:
            return _signed_first(layers, relax[0], signed, const, S, o, r)
    else:
        const = lam @ layers[k - 1][1]
    for j in range(k - 1, 0, -1):          # z_{j+1} = W_{j+1} relu(z_j) + b_{j+1}
        M = signed if signed is not None and j == k - 1 else lam @ layers[j][0]
        Mp, Mn = np.maximum(M, 0.0), np.minimum(M, 0.0)
        const = const + (Mp @ relax[j - 1][1][:, :, None])[:, :, 0]
        lam = _back(M, Mp, Mn, relax[j - 1])
        const = const + lam @ layers[j - 1][1]
    N = signed if signed is not None and k == 1 else lam @ layers[0][0]   # coefficient on the network input x
    G = N @ S
    h = const + (N @ o[:, :, None])[:, :, 0] + (np.abs(N) @ r[:, :, None])[:, :, 0]
    return G, h


def _signed_first(layers: list[Layer], relax: tuple, M: np.ndarray, const: np.ndarray, S: np.ndarray,
                  o: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_upper_line for the rows M = [W2; -W2] of layer 2 (shared by every box), back through layer 1 alone.

    Per box the back-substituted rows are M * sl + Mp * E (column scalings, see _relaxation), so their product
    with layer 1 is M @ (sl W1) + Mp @ (E W1): no per-box (rows x width) array and no scatter of the unstable
    units; the same numbers up to rounding, in about 60 % of the time of the general path on the CARMA network.
    Every product is per box (stacked), never one matmul across boxes, whose rounding would depend on how many
    boxes are bounded together (box_batch.py's results must not)."""
    _, iu, D, _, _, E = relax   # D: the lower lines' slopes sl
    W1, b1 = layers[0]
    Mp = np.maximum(M, 0.0)
    const = const[None, :] + (Mp @ (iu + E * b1)[:, :, None] + M @ (D * b1)[:, :, None])[:, :, 0]
    N = M @ (D[:, :, None] * W1[None]) + Mp @ (E[:, :, None] * W1[None])   # (boxes, rows, inputs)
    G = N @ S
    h = const + (N @ o[:, :, None])[:, :, 0] + (np.abs(N) @ r[:, :, None])[:, :, 0]
    return G, h


def _box_max(G: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    ctr, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    return h + (G @ ctr[:, :, None])[:, :, 0] + (np.abs(G) @ rad[:, :, None])[:, :, 0]


def score_upper_bound(layers: list[Layer], S: np.ndarray, o: np.ndarray, r: np.ndarray, lo: np.ndarray,
                      hi: np.ndarray) -> ScoreBound:
    """A linear upper bound of the network's output on each box (see the module docstring).

    S: (n, m, d) input slopes, o: (n, m) offsets, r: (n, m) >= 0 input errors, lo / hi: (n, d) the boxes. An
    infinite error r (a slope without a bound on that box) gives a non-finite line, quietly: callers bound such a
    box by its cost alone (solver/box_search._unbounded_rows).
    """
    relax = []
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for k in range(1, len(layers)):    # pre-activation bounds of hidden layer k (max of z and of -z at once)
            w = layers[k - 1][0].shape[0]
            top = _box_max(*_upper_line(layers, relax, k, None, S, o, r), lo, hi)
            u, l = top[:, :w], -top[:, w:]
            relax.append(_relaxation(l, np.maximum(u, l)))
        lam = np.ones((len(lo), 1, 1))
        G, h = _upper_line(layers, relax, len(layers), lam, S, o, r)
    return ScoreBound(G[:, 0, :], h[:, 0], _box_max(G, h, lo, hi)[:, 0])


__all__ = ["Layer", "ScoreBound", "relu_forward", "relu_layers", "score_upper_bound"]
