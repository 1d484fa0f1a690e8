"""Block iPiano with backtracking (MODEL.md 5, the paper's Algorithm 1) for one channel.

Plain Python over the kernels of ``fastosmosis.kernels``: every pass over the pixels is
a kernel call, every work array is allocated once per channel, and arrays change roles
by swapping references (no copies). The driver knows no files and no screen.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numba
import numpy as np

from . import kernels as K

BETA = 0.4  # inertia of both blocks
LAMBDA_UP = 2.0  # L <- 2 L on a rejected step
LAMBDA_DOWN = 1.2  # L <- L / 1.2 on an accepted step
MAX_RETRIES = 60  # rejected steps of one block in one iteration before giving up
MIN_ITER = 5  # the tolerance test applies from this iteration on
PLATEAU_FLOAT32 = 20  # float32 primal-dual: stop after this many steps without a new best

STOP_TOLERANCE = "tolerance"
STOP_MAX_ITER = "max_iter"
STOP_CALLBACK = "callback"
STOP_ZERO = "zero energy"
STOP_BACKTRACKING = "backtracking failed"


@dataclass
class ChannelSolution:
    """What the driver returns for one channel (u, v with the offset still added)."""

    u: np.ndarray
    v: np.ndarray
    energies: np.ndarray
    pd_iterations: np.ndarray
    stop_reason: str
    seconds: float
    iterations: int = field(init=False)

    def __post_init__(self):
        self.iterations = len(self.energies)


def step_size(beta: float, lipschitz: float) -> float:
    """iPiano step ``0.99 (1 - 2 beta) / L`` (beta <= 1/2) or ``1.99 (1 - beta) / L``."""
    if beta <= 0.5:
        return 0.99 * (1.0 - 2.0 * beta) / lipschitz
    return 1.99 * (1.0 - beta) / lipschitz


def block_rows(height: int) -> int:
    """Rows per parallel block of the primal-dual pass (a few blocks per thread)."""
    return max(16, -(-height // (4 * numba.get_num_threads())))


class _HuberProx:
    """The primal-dual prox of ``eta H_eps(|grad .|)`` with its double-buffered state."""

    def __init__(self, shape, dtype, *, eta, kappa, pd_tol, pd_max_iter, warm_start):
        h, w = shape
        self.eta, self.kappa = eta, kappa
        self.pd_tol, self.pd_max_iter = pd_tol, pd_max_iter
        self.warm_start = warm_start
        self.plateau = PLATEAU_FLOAT32 if dtype == np.float32 else 0
        # two sets (x, xbar, y1, y2); sets[0] holds the latest result and dual
        self.sets = [[np.empty(shape, dtype) for _ in range(4)] for _ in range(2)]
        self.block_rows = block_rows(h)
        nblocks = -(-h // self.block_rows)
        self.scratch = (np.empty((nblocks, w), dtype), np.empty((nblocks, w), dtype))
        self.zero = np.zeros(w, dtype)
        self.partial = np.empty((h, 2))
        self.calls = 0

    def __call__(self, vd, a2):
        """Prox of ``a2 eta H_eps`` at vd; returns (result array, iterations)."""
        warm = self.warm_start and self.calls > 0
        a, b = self.sets
        iters, parity = K.huber_prox(
            vd, a2, self.eta, self.kappa, self.pd_tol, self.pd_max_iter, self.plateau,
            warm, *a, *b, *self.scratch, self.zero, self.block_rows, self.partial)
        if parity:
            self.sets.reverse()
        self.calls += 1
        return self.sets[0][0], iters

    def take_result(self, spare):
        """Hand the result array over to the caller and put ``spare`` in its place."""
        result = self.sets[0][0]
        self.sets[0][0] = spare
        return result


def solve_channel(f, b, alpha, w, u0, v0, *, eta, mu, gamma, epsilon, osm, tol, max_iter,
                  pd_tol, pd_max_iter, warm_start, channel=0, callback=None):
    """Minimise E(u, v) of MODEL.md 3 for one channel by block iPiano (scheme "exact").

    All arrays are C-contiguous 2-D of one float dtype with the offset added; u0 and v0
    are not modified.
    """
    start = time.perf_counter()
    shape, dtype = f.shape, f.dtype
    h = shape[0]
    u, v = u0.copy(), v0.copy()
    u_prev, v_prev = u0.copy(), v0.copy()
    gu, gv, p1, vd = (np.empty(shape, dtype) for _ in range(4))
    partial = np.empty((h, 4))
    prox = None
    if eta > 0:
        prox = _HuberProx(shape, dtype, eta=eta, kappa=epsilon / eta, pd_tol=pd_tol,
                          pd_max_iter=pd_max_iter, warm_start=warm_start)

    def energy_of(uu, vv):
        t = K.energy_terms(uu, vv, w, f, alpha, osm, mu, gamma, epsilon, partial)
        return t[0] + t[1] + t[2] + eta * t[3]

    lip_u = lip_v = 1.0
    energies, pd_counts = [], []
    e_prev = energy_of(u, v)
    reason = STOP_MAX_ITER
    for n in range(1, max_iter + 1):
        if e_prev == 0.0:
            reason = STOP_ZERO
            break
        s0 = K.smooth_gradient(u, v, w, osm, mu, gu, gv, partial)
        done_u = done_v = False
        retries_u = retries_v = 0
        pd_total = 0
        p2 = None
        while not (done_u and done_v):
            if not done_u:
                a1 = step_size(BETA, lip_u)
                K.u_step_prox(u, u_prev, gu, f, alpha, a1, BETA, gamma, p1)
                s, ip, sq = K.descent_terms(p1, v, w, osm, mu, gu, p1, u, partial)
                if s - s0 - ip - 0.5 * lip_u * sq <= 0.0:
                    done_u = True
                    lip_u /= LAMBDA_DOWN
                else:
                    lip_u *= LAMBDA_UP
                    retries_u += 1
            if not done_v:
                a2 = step_size(BETA, lip_v)
                K.v_step(v, v_prev, gv, a2, BETA, vd)
                if prox is None:
                    p2 = vd
                else:
                    p2, iters = prox(vd, a2)
                    pd_total += iters
                s, ip, sq = K.descent_terms(u, p2, w, osm, mu, gv, p2, v, partial)
                if s - s0 - ip - 0.5 * lip_v * sq <= 0.0:
                    done_v = True
                    lip_v /= LAMBDA_DOWN
                else:
                    lip_v *= LAMBDA_UP
                    retries_v += 1
            if retries_u >= MAX_RETRIES or retries_v >= MAX_RETRIES:
                break
        if not (done_u and done_v):
            reason = STOP_BACKTRACKING
            break
        # both blocks accepted: x_prev <- x, x <- p, recycling the buffers
        u_prev, u, p1 = u, p1, u_prev
        if prox is None:
            v_prev, v, vd = v, vd, v_prev
        else:
            v_prev, v = v, prox.take_result(v_prev)
        e = energy_of(u, v)
        energies.append(e)
        pd_counts.append(pd_total)
        if callback is not None and callback(channel, n, e) is False:
            reason = STOP_CALLBACK
            break
        if n >= MIN_ITER and abs(e - e_prev) < tol * abs(e_prev):
            reason = STOP_TOLERANCE
            break
        e_prev = e
    return ChannelSolution(u=u, v=v, energies=np.asarray(energies, dtype=np.float64),
                           pd_iterations=np.asarray(pd_counts, dtype=np.int64),
                           stop_reason=reason, seconds=time.perf_counter() - start)
