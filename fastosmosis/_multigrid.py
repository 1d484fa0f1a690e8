"""The u-block minimiser: conjugate gradients preconditioned by a multigrid V-cycle.

For a fixed v > 0, E is a convex quadratic in u; with r = u / v its minimiser solves

    A r = gamma alpha v f,    A = osm D^T diag(v) D + gamma diag(alpha v^2),    u = v r

(the weighted 5-point operator of ``fastosmosis.kernels.multigrid``). The hierarchy is a
list of levels (pyamg's ``MultilevelSolver.levels``), allocated once per channel and
rebuilt from v before each solve; nothing is allocated inside a cycle. The residual
``b - A r`` is minus the gradient of E in r, so ``||res / v||`` is the norm of dE/du at
u = v r: the solve stops on that norm, the quantity the outer stationarity is made of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from . import kernels as K

COARSEST = 256  # a level with at most this many pixels is solved directly (dense Cholesky)
SWEEPS = 1  # red-black Gauss-Seidel sweeps before and after each coarse correction


@dataclass
class Level:
    """One level: the operator (wy, wx, s, d) and the level's x, b and residual."""

    wy: np.ndarray
    wx: np.ndarray
    s: float
    d: np.ndarray
    x: np.ndarray
    b: np.ndarray
    res: np.ndarray
    block_rows: int = 1  # rows per parallel block of the smoothing sweep
    scratch: np.ndarray = None  # a row per block


# the kernels that a Hierarchy and a USolver call
KERNELS = (K.coarsen_edges, K.restrict, K.stencil_diagonal, K.sweep, K.residual,
           K.prolong_add, K.u_system, K.ratio_norm, K.dot, K.cg_direction, K.apply_dot,
           K.cg_update, K.multiply)


def sweep_blocks(shape, dtype):
    """Rows per block of the smoothing sweep (two blocks per thread) and its scratch."""
    rows = max(4, -(-shape[0] // (2 * numba.get_num_threads())))
    return rows, np.empty((-(-shape[0] // rows), shape[1]), dtype)


def level_shapes(shape, coarsest=COARSEST):
    """The shapes of the hierarchy: halve (rounding up) until at most ``coarsest`` pixels."""
    shapes = [tuple(shape)]
    while shapes[-1][0] * shapes[-1][1] > coarsest:
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


class Hierarchy:
    """The multigrid hierarchy of the u-block's operator for one image size.

    Level 0 borrows its weights (v), its x, b and its residual scratch from the caller;
    its own array is the diagonal ``d0``. ``update`` rebuilds every coarse operator and
    the coarsest level's Cholesky factor; ``vcycle`` applies the preconditioner.
    """

    def __init__(self, shape, dtype, *, coarsest=COARSEST, sweeps=SWEEPS):
        self.shapes = level_shapes(shape, coarsest)
        self.sweeps = sweeps
        self.d0 = np.empty(shape, dtype)
        self.blocks0 = sweep_blocks(shape, dtype)
        self.coarse = [Level(np.empty(sh, dtype), np.empty(sh, dtype), 1.0,
                             *(np.empty(sh, dtype) for _ in range(4)),
                             *sweep_blocks(sh, dtype))
                       for sh in self.shapes[1:]]
        self.levels = []
        self.factor = None

    @property
    def nbytes(self):
        return sum(a.nbytes for lv in self.coarse for a in (lv.wy, lv.wx, lv.d, lv.x, lv.b,
                                                             lv.res, lv.scratch)) \
            + self.d0.nbytes + self.blocks0[1].nbytes

    def update(self, v, osm, c0):
        """Rebuild the coarse operators from level 0's (v, osm, d0) and ``c0`` (its
        diagonal part gamma alpha v^2, which the call may overwrite)."""
        top = Level(v, v, float(osm), self.d0, None, None, None, *self.blocks0)
        self.levels = [top] + self.coarse
        c = c0
        for fine, lv in zip(self.levels[:-1], self.levels[1:], strict=True):
            K.coarsen_edges(fine.wy, fine.wx, fine.s, lv.wy, lv.wx)
            K.restrict(c, lv.res)  # the coarse diagonal part, kept in the residual buffer
            c = lv.res
            K.stencil_diagonal(lv.wy, lv.wx, 1.0, c, lv.d)
        self.factor = _dense_factor(self.levels[-1])

    def vcycle(self, b, x, scratch):
        """``x = M^-1 b``: one V-cycle from x = 0 (symmetric: red-black Gauss-Seidel
        before each coarse correction, black-red after); ``scratch`` holds level 0's
        residual."""
        top = self.levels[0]
        top.b, top.x, top.res = b, x, scratch
        self._cycle(0)

    def _cycle(self, k):
        lv = self.levels[k]
        if k == len(self.levels) - 1:
            lv.x.reshape(-1)[:] = self.factor(lv.b.reshape(-1))
            return
        rows, tmp = lv.block_rows, lv.scratch
        for sweep in range(self.sweeps):  # red, then black
            K.sweep(lv.x, lv.b, lv.wy, lv.wx, lv.s, lv.d, 0, sweep == 0, rows, tmp)
        K.residual(lv.b, lv.x, lv.wy, lv.wx, lv.s, lv.d, lv.res)
        nxt = self.levels[k + 1]
        K.restrict(lv.res, nxt.b)
        self._cycle(k + 1)
        K.prolong_add(nxt.x, lv.x)
        for _ in range(self.sweeps):  # black, then red: the adjoint of the pre-smoothing
            K.sweep(lv.x, lv.b, lv.wy, lv.wx, lv.s, lv.d, 1, False, rows, tmp)


def dense_matrix(wy, wx, s, d):
    """The level's operator as a dense matrix (row-major pixel order)."""
    h, w = d.shape
    n = h * w
    a = np.diag(d.reshape(-1).astype(np.float64))
    idx = np.arange(n).reshape(h, w)
    for here, there, weight in ((idx[:-1, :], idx[1:, :], wy[:-1, :]),
                                (idx[:, :-1], idx[:, 1:], wx[:, :-1])):
        a[here.reshape(-1), there.reshape(-1)] = -s * weight.reshape(-1)
        a[there.reshape(-1), here.reshape(-1)] = -s * weight.reshape(-1)
    return a


def _dense_factor(lv):
    """The coarsest level's solve: Cholesky, or the pseudo-inverse where rounding leaves
    the matrix not numerically positive definite (alpha > 0 only on a few pixels, and
    tiny there)."""
    a = dense_matrix(lv.wy, lv.wx, lv.s, lv.d)
    try:
        factor = cho_factor(a, lower=True)
    except LinAlgError:
        inverse = np.linalg.pinv(a, hermitian=True)
        return lambda b: inverse @ b
    return lambda b: cho_solve(factor, b)


@dataclass
class SolveInfo:
    """What one u-solve did: iterations, ||dE/du|| at its start and after each iteration."""

    iterations: int = 0
    start: float = 0.0
    history: list = field(default_factory=list)

    @property
    def final(self):
        return self.history[-1] if self.history else self.start


class USolver:
    """Conjugate gradients on the u-block's system, preconditioned by a V-cycle.

    Holds the work arrays for one image size and dtype: four images and the hierarchy
    (one more at level 0, about two in all below), about 7 images; the ratio r lives in
    u's own array during the solve. Between solves the caller may use res, z, p and q
    as scratch: every solve starts afresh from u.
    """

    def __init__(self, shape, dtype, *, coarsest=COARSEST, sweeps=SWEEPS):
        self.res, self.z, self.p, self.q = (np.empty(shape, dtype) for _ in range(4))
        self.partial = np.empty((shape[0], 2))
        self.hierarchy = Hierarchy(shape, dtype, coarsest=coarsest, sweeps=sweeps)

    @property
    def nbytes(self):
        return 4 * self.res.nbytes + self.partial.nbytes + self.hierarchy.nbytes

    def solve(self, u, v, alpha, f, *, osm, gamma, target, max_iter):
        """Replace u by the u-block minimiser (to ``||dE/du|| <= target``).

        Starts from r = u / v. Every conjugate-gradient iterate decreases the quadratic
        in r (the preconditioner is symmetric positive definite), hence E(., v).
        """
        x = u  # r = u / v in u's own array until the end
        res, z, p, q, partial = self.res, self.z, self.p, self.q, self.partial
        H = self.hierarchy
        d0 = H.d0
        K.u_system(u, v, alpha, f, osm, gamma, x, q, z, d0)  # c0 in q, b in z
        H.update(v, osm, q)
        K.residual(z, x, v, v, osm, d0, res)
        info = SolveInfo(start=math.sqrt(K.ratio_norm(res, v, partial)))
        gnorm = info.start
        rz = 0.0
        while gnorm > target and info.iterations < max_iter:
            H.vcycle(res, z, q)  # q (A p) is dead until the next apply
            rz_new = K.dot(res, z, partial)
            if info.iterations == 0:
                np.copyto(p, z)
            else:
                K.cg_direction(p, z, rz_new / rz)
            rz = rz_new
            pq = K.apply_dot(p, v, v, osm, d0, q, partial)
            if not pq > 0.0:  # breakdown at the rounding floor
                break
            gnorm = math.sqrt(K.cg_update(x, res, p, q, v, rz / pq, partial))
            info.iterations += 1
            info.history.append(gnorm)
        K.multiply(x, v, u)
        return info
