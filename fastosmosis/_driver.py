"""Block iPiano with backtracking (MODEL.md 5, the paper's Algorithm 1) for one channel.

Plain Python over the kernels of ``fastosmosis.kernels``: every pass over the pixels is
a kernel call, every work array is allocated once per channel, and arrays change roles
by swapping references (no copies). The driver knows no files and no screen.
"""

from __future__ import annotations

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
    pd_iterations: np.ndarray  # per iteration, every primal-dual call counted
    pd_accepted: np.ndarray  # per iteration, the call whose v-step was accepted
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


@dataclass(frozen=True)
class _Scheme:
    """What differs between the schemes: gradients, descent tests, dual step, defaults."""

    gradients: object  # (u, v, w, osm, mu, gu, gv, partial) -> S(u, v)
    tests_at_current: bool  # paper: each pass tests at the current (u, v), then moves
    slack_per_pixel: float
    kappa: object  # (epsilon, eta) -> the dual step's denominator factor
    warm_start: bool


SCHEMES = {
    "exact": _Scheme(gradients=K.smooth_gradient, tests_at_current=False,
                     slack_per_pixel=0.0, kappa=lambda eps, eta: eps / eta,
                     warm_start=True),
    "paper": _Scheme(gradients=lambda *a: K.paper_gradients(*a)[0], tests_at_current=True,
                     slack_per_pixel=1e-10, kappa=lambda eps, eta: eps, warm_start=False),
}
REGULARIZERS = ("huber-tv", "tikhonov")
V_STEPS = ("prox", "explicit")


def solve_channel(f, b, alpha, w, u0, v0, *, eta, mu, gamma, epsilon, osm, tol, max_iter,
                  pd_tol, pd_max_iter, warm_start=None, scheme="exact",
                  regularizer="huber-tv", v_step="prox", channel=0, callback=None):
    """Minimise E(u, v) of MODEL.md 3 for one channel by block iPiano.

    All arrays are C-contiguous 2-D of one float dtype with the offset added; u0 and v0
    become work arrays (the caller hands them over) unless they alias another argument,
    the others are not modified. ``scheme`` "exact" tests both blocks at the iterate of the start
    of the iteration and accepts on gap <= 0; "paper" (MODEL.md 6) tests on every pass
    at the current (u, v), with its own gradient terms recomputed there, moves an
    accepted block at once and accepts on gap < 1e-10 N. The Huber-TV regulariser
    is taken by the primal-dual prox; Tikhonov by the explicit v-step.
    """
    start = time.perf_counter()
    sch = SCHEMES[scheme]
    warm_start = sch.warm_start if warm_start is None else warm_start
    shape, dtype = f.shape, f.dtype
    h = shape[0]
    slack = sch.slack_per_pixel * f.size
    # u0, v0 are taken over as work arrays unless they alias another input
    others = (f, b, alpha, w)
    u = u0.copy() if any(np.may_share_memory(u0, x) for x in others + (v0,)) else u0
    v = v0.copy() if any(np.may_share_memory(v0, x) for x in others) else v0
    u_prev, v_prev = u0.copy(), v0.copy()
    gu, gv, p1, vd = (np.empty(shape, dtype) for _ in range(4))
    partial = np.empty((h, 4))
    prox = None
    smooth_reg = 0  # the regulariser taken in the explicit v-step (kernels.regularizer)
    if eta > 0 and regularizer == "huber-tv" and v_step == "explicit":
        smooth_reg = K.HUBER
    elif eta > 0 and regularizer == "huber-tv":
        prox = _HuberProx(shape, dtype, eta=eta, kappa=sch.kappa(epsilon, eta),
                          pd_tol=pd_tol, pd_max_iter=pd_max_iter, warm_start=warm_start)
    elif eta > 0:
        smooth_reg = K.TIKHONOV
    reg_kind = K.TIKHONOV if regularizer == "tikhonov" else K.HUBER

    def energy_of(uu, vv):
        t = K.energy_terms(uu, vv, w, f, alpha, osm, mu, gamma, epsilon, reg_kind, partial)
        return t[0] + t[1] + t[2] + eta * t[3]

    def gap_u(v_start):
        if sch.tests_at_current:
            s, s0, ip, sq = K.paper_u_test(p1, u, v, v_start, w, osm, mu, partial)
        else:
            s0 = s_start
            s, ip, sq = K.descent_terms(p1, v, w, osm, mu, gu, p1, u, partial)
        return s - s0 - ip - 0.5 * lip_u * sq - slack

    def gap_v(p2):
        if sch.tests_at_current:
            s, s0, ip, sq = K.paper_v_test(u, v, p2, w, osm, mu, partial)
        else:
            s0 = s_start
            s, ip, sq = K.descent_terms(u, p2, w, osm, mu, gv, p2, v, partial)
        if smooth_reg:
            rp, rv, rip = K.reg_descent(v, p2, smooth_reg, epsilon, partial)
            s, s0 = s + eta * rp, s0 + eta * rv
            if sch.tests_at_current:  # the paper test's gradient lacks the regulariser
                ip += eta * rip
        return s - s0 - ip - 0.5 * lip_v * sq - slack

    lip_u = lip_v = 1.0
    energies, pd_counts, pd_accepted = [], [], []
    e_prev = energy_of(u, v)
    reason = STOP_MAX_ITER
    for n in range(1, max_iter + 1):
        if e_prev == 0.0:
            reason = STOP_ZERO
            break
        s_start = sch.gradients(u, v, w, osm, mu, gu, gv, partial)
        if smooth_reg:
            K.reg_gradient_add(v, smooth_reg, eta, epsilon, gv, partial)
        v_start = v
        done_u = done_v = False
        retries_u = retries_v = 0
        pd_total = pd_last = 0
        p2 = None
        while not (done_u and done_v):
            if not done_u:
                a1 = step_size(BETA, lip_u)
                K.u_step_prox(u, u_prev, gu, f, alpha, a1, BETA, gamma, p1)
            if not done_v:
                a2 = step_size(BETA, lip_v)
                K.v_step(v, v_prev, gv, a2, BETA, vd)
                if prox is None:
                    p2 = vd
                else:
                    p2, pd_last = prox(vd, a2)
                    pd_total += pd_last
            # both pending tests at the same (u, v), then the accepted blocks move
            ok_u = not done_u and gap_u(v_start) <= 0.0
            ok_v = not done_v and gap_v(p2) <= 0.0
            if not done_u:
                if ok_u:
                    done_u = True
                    lip_u /= LAMBDA_DOWN
                else:
                    lip_u *= LAMBDA_UP
                    retries_u += 1
            if not done_v:
                if ok_v:
                    done_v = True
                    lip_v /= LAMBDA_DOWN
                else:
                    lip_v *= LAMBDA_UP
                    retries_v += 1
            if sch.tests_at_current:
                if ok_u:
                    u_prev, u, p1 = u, p1, u_prev
                if ok_v:
                    v_prev, v, vd = _accept_v(v, v_prev, vd, prox)
            if retries_u >= MAX_RETRIES or retries_v >= MAX_RETRIES:
                break
        if not (done_u and done_v):
            reason = STOP_BACKTRACKING
            break
        if not sch.tests_at_current:  # x_prev <- x, x <- p, recycling the buffers
            u_prev, u, p1 = u, p1, u_prev
            v_prev, v, vd = _accept_v(v, v_prev, vd, prox)
        e = energy_of(u, v)
        energies.append(e)
        pd_counts.append(pd_total)
        pd_accepted.append(pd_last)
        if callback is not None and callback(channel, n, e) is False:
            reason = STOP_CALLBACK
            break
        if n >= MIN_ITER and abs(e - e_prev) < tol * abs(e_prev):
            reason = STOP_TOLERANCE
            break
        e_prev = e
    return ChannelSolution(u=u, v=v, energies=np.asarray(energies, dtype=np.float64),
                           pd_iterations=np.asarray(pd_counts, dtype=np.int64),
                           pd_accepted=np.asarray(pd_accepted, dtype=np.int64),
                           stop_reason=reason, seconds=time.perf_counter() - start)


def _accept_v(v, v_prev, vd, prox):
    """(v_prev, v, vd) after accepting the v-step, the old v_prev buffer recycled."""
    if prox is None:  # the step itself is the new v
        return v, vd, v_prev
    return v, prox.take_result(v_prev), vd
