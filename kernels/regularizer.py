"""Smooth regularisers of v taken in the explicit v-step (no primal-dual loop).

``kind`` 1: Tikhonov, R(v) = 1/2 |grad v|^2, grad R = grad^T grad v (paper IV.3);
``kind`` 2: Huber-TV, R(v) = H_eps(|grad v|), grad R = grad^T(grad v / max(eps, |grad v|))
(docs/model.md 9: E is C^1, grad R is Lipschitz with constant about 8 / eps).
Both enter the v-block's smooth part: their gradient joins gv, their value the v
descent test. Neighbours are clamped at the border as in ``paper.py``.
"""

import math

from numba import njit, prange, types

from ._reduce import column_sum
from ._types import JIT, PARTIAL, kernel, tuple_of

TIKHONOV = 1
HUBER = 2


@njit(**JIT)
def reg_value(g1, g2, kind, eps):
    """R at one pixel from its forward differences."""
    if kind == TIKHONOV:
        return 0.5 * (g1 * g1 + g2 * g2)
    t = math.sqrt(g1 * g1 + g2 * g2)
    return t * t / (2 * eps) if t < eps else t - eps / 2


@njit(**JIT)
def _flux(g1, g2, kind, eps):
    """The field whose grad^T is grad R: grad v, or grad v / max(eps, |grad v|)."""
    if kind == TIKHONOV:
        return g1, g2
    m = max(eps, math.sqrt(g1 * g1 + g2 * g2))
    return g1 / m, g2 / m


@njit(**JIT)
def _grad_r(v, i, j, h, w, kind, eps):
    """(grad R)(v) at (i, j) and the forward differences there."""
    up, dn, lf, rt = max(i - 1, 0), min(i + 1, h - 1), max(j - 1, 0), min(j + 1, w - 1)
    vc = v[i, j]
    g1, g2 = v[dn, j] - vc, v[i, rt] - vc
    f1, f2 = _flux(g1, g2, kind, eps)
    # the flux of the pixel above (component 1) and on the left (component 2);
    # clamped at the border, where their difference is 0 and so is the flux
    u1, _ = _flux(vc - v[up, j], v[up, min(j + 1, w - 1)] - v[up, j], kind, eps)
    _, l2 = _flux(v[min(i + 1, h - 1), lf] - v[i, lf], vc - v[i, lf], kind, eps)
    return -(f1 - u1) - (f2 - l2), g1, g2


@kernel(lambda A, F: types.float64(A, types.int64, F, F, A, PARTIAL), parallel=True)
def reg_gradient_add(v, kind, eta, eps, gv, partial):
    """gv += eta grad R(v); return R(v) (without eta)."""
    h, w = v.shape
    for i in prange(h):
        acc = 0.0
        for j in range(w):
            g, g1, g2 = _grad_r(v, i, j, h, w, kind, eps)
            gv[i, j] += eta * g
            acc += reg_value(g1, g2, kind, eps)
        partial[i, 0] = acc
    return column_sum(partial, 0)


@kernel(lambda A, F: tuple_of(3)(A, A, types.int64, F, PARTIAL), parallel=True)
def reg_descent(v, p, kind, eps, partial):
    """(R(p), R(v), <grad R(v), p - v>), without eta, for the v descent test."""
    h, w = v.shape
    for i in prange(h):
        rp = 0.0
        rv = 0.0
        ip = 0.0
        for j in range(w):
            g, g1, g2 = _grad_r(v, i, j, h, w, kind, eps)
            rv += reg_value(g1, g2, kind, eps)
            dn, rt = min(i + 1, h - 1), min(j + 1, w - 1)
            rp += reg_value(p[dn, j] - p[i, j], p[i, rt] - p[i, j], kind, eps)
            ip += g * (p[i, j] - v[i, j])
        partial[i, 0], partial[i, 1], partial[i, 2] = rp, rv, ip
    return column_sum(partial, 0), column_sum(partial, 1), column_sum(partial, 2)
