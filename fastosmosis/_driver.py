"""Block iPiano with backtracking (docs/model.md 5, the paper's Algorithm 1) for one channel.

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
# float32 primal-dual: also stop once the residual is within this many ulps of max(vd),
# over tau_next, of zero: the rounding of x alone puts |x - x_new| / tau_next there
# (bench/README.md, "float32 primal-dual floor")
FLOOR_ULPS_FLOAT32 = 1

STOP_TOLERANCE = "tolerance"
STOP_MAX_ITER = "max_iter"
STOP_CALLBACK = "callback"
STOP_ZERO = "zero energy"
STOP_BACKTRACKING = "backtracking failed"
STOP_STATIONARITY = "stationarity"
STOP_FLOOR = "rounding floor"  # bcd: an outer iteration that could not decrease E


@dataclass
class ChannelSolution:
    """What the driver returns for one channel (u, v with the offset still added)."""

    u: np.ndarray
    v: np.ndarray
    energies: np.ndarray
    pd_iterations: np.ndarray  # per iteration, every primal-dual call counted
    pd_accepted: np.ndarray  # per iteration, the call whose v-step was accepted
    stationarity: np.ndarray  # per iteration, |grad E| / |grad E at the start| (exact)
    stop_reason: str
    seconds: float
    # per iteration, the conjugate-gradient iterations of the u-solve (solver "bcd")
    linear_iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    iterations: int = field(init=False)

    def __post_init__(self):
        self.iterations = len(self.energies)


def step_size(beta: float, lipschitz: float) -> float:
    """iPiano step ``0.99 (1 - 2 beta) / L`` (beta <= 1/2) or ``1.99 (1 - beta) / L``."""
    if beta <= 0.5:
        return 0.99 * (1.0 - 2.0 * beta) / lipschitz
    return 1.99 * (1.0 - beta) / lipschitz


def block_rows(height: int) -> int:
    """Rows per parallel block of the exact scheme's passes (a few blocks per thread)."""
    return max(16, -(-height // (4 * numba.get_num_threads())))


def prox_block_rows(height: int) -> int:
    """Rows per parallel block of the primal-dual passes: one block per thread, since a
    block stops computing the residual once its own rows reach the stopping threshold
    (and each block recomputes a few rows at its border)."""
    return max(16, -(-height // numba.get_num_threads()))


class HuberProx:
    """The primal-dual prox of ``eta H_eps(|grad .|)`` with its double-buffered state."""

    def __init__(self, shape, dtype, *, eta, kappa, pd_tol, pd_max_iter, warm_start):
        h, w = shape
        self.eta, self.kappa = eta, kappa
        self.pd_tol, self.pd_max_iter = pd_tol, pd_max_iter
        self.warm_start = warm_start
        self.plateau = PLATEAU_FLOAT32 if dtype == np.float32 else 0
        # float32 rounding floor of the residual: FLOOR_ULPS_FLOAT32 ulps of max vd over
        # tau_next (float64: none, the loop is exactly docs/model.md 5.1's)
        self.floor_scale = FLOOR_ULPS_FLOAT32 * float(np.finfo(np.float32).eps) \
            if dtype == np.float32 else 0.0
        # two sets (x, xbar, y1, y2); sets[0] holds the latest result and dual
        self.sets = [[np.empty(shape, dtype) for _ in range(4)] for _ in range(2)]
        self.block_rows = prox_block_rows(h)
        nblocks = -(-h // self.block_rows)
        self.scratch = (np.empty((nblocks, w), dtype), np.empty((nblocks, w), dtype))
        self.ring = np.empty((nblocks, K.RING_ROWS, w), dtype)
        self.zero = np.zeros(w, dtype)
        self.partial = np.empty((h, 4))
        self.calls = 0

    def __call__(self, vd, a2):
        """Prox of ``a2 eta H_eps`` at vd; returns (result array, iterations)."""
        warm = self.warm_start and self.calls > 0
        a, b = self.sets
        iters, parity, _ = K.huber_prox(
            vd, a2, self.eta, self.kappa, self.pd_tol, self.pd_max_iter, self.plateau,
            self.floor_scale * float(vd.max()) if self.floor_scale else 0.0,
            warm, *a, *b, *self.scratch, self.ring, self.zero, self.block_rows,
            self.partial)
        if parity:
            self.sets.reverse()
        self.calls += 1
        return self.sets[0][0], iters

    def take_result(self, spare):
        """Hand the result array over to the caller and put ``spare`` in its place."""
        result = self.sets[0][0]
        self.sets[0][0] = spare
        return result


class Backtracking:
    """One block's backtracking (docs/model.md 5): the Lipschitz estimate ``lip``, divided
    by ``LAMBDA_DOWN`` after a step the descent test accepts and multiplied by
    ``LAMBDA_UP`` (a retry) after one it rejects; ``MAX_RETRIES`` retries in one
    iteration are the end."""

    def __init__(self, lip=1.0):
        self.lip = lip
        self.retries = 0

    def update(self, accepted):
        """Take the test's verdict on the last step; returns it."""
        if accepted:
            self.lip = self.lip / LAMBDA_DOWN
        else:
            self.lip = self.lip * LAMBDA_UP
            self.retries += 1
        return accepted

    @property
    def exhausted(self):
        return self.retries >= MAX_RETRIES


@dataclass(frozen=True)
class _Scheme:
    """What differs between the schemes (docs/model.md 5 and 6)."""

    paper: bool  # its own gradients, tests at the current (u, v) on every pass
    slack_per_pixel: float
    kappa: object  # (epsilon, eta) -> the dual step's denominator factor

    def accepts(self, gap):
        """The descent test: gap <= 0 (exact, docs/model.md 5), gap < 0 (paper, 6.3)."""
        return gap < 0.0 if self.paper else gap <= 0.0

    @property
    def moves_at_once(self):
        """Whether an accepted block moves at once (paper) or both at the end of the
        iteration (exact)."""
        return self.paper


SCHEME_RULES = {  # per name of model.SCHEMES
    "exact": _Scheme(paper=False, slack_per_pixel=0.0, kappa=lambda eps, eta: eps / eta),
    "paper": _Scheme(paper=True, slack_per_pixel=1e-10, kappa=lambda eps, eta: eps),
}


def kernels(*, paper, prox, smooth):
    """The kernels that ``solve_channel`` calls for a scheme (``paper`` or not), with
    the Huber-TV prox or not and with a regulariser in the explicit v-step or not."""
    if paper:
        own = (K.paper_gradients, K.paper_tests) \
            + ((K.reg_gradient_add, K.reg_descent) if smooth else ())
    else:
        own = (K.gradient_energy, K.descent_pair)
    return own + (K.u_step_prox, K.v_step) + ((K.huber_prox,) if prox else ())


def solve_channel(f, alpha, w, u0, v0, model, options, *, gnorm_ref=None, channel=0,
                  callback=None):
    """Minimise E(u, v) of docs/model.md 3 (``model``, a :class:`~fastosmosis.model.Model`)
    for one channel by block iPiano (``options``, a
    :class:`~fastosmosis.model.SolverOptions`).

    All arrays are C-contiguous 2-D of one float dtype with the offset added; u0 and v0
    become work arrays (the caller hands them over) unless they alias another argument,
    the others are not modified. ``scheme`` "exact" tests both blocks at the iterate of
    the start of the iteration and accepts on gap <= 0; "paper" (docs/model.md 6) tests on
    every pass at the current (u, v), with its own gradient terms recomputed there,
    moves an accepted block at once and accepts when the gap is below a slack of
    1e-10 N (strictly). Huber-TV is taken by the primal-dual prox (``v_step="prox"``) or
    in the explicit v-step, Tikhonov always in the explicit v-step. The stationarity
    (and ``gtol``) is measured against ``gnorm_ref``, by default the norm of the
    energy's gradient at (u0, v0). ``pd_tol_rel`` ties the primal-dual tolerance to the
    outer progress: iteration n stops the prox at ``max(pd_tol, pd_tol_rel * s)``, with s
    the stationarity after iteration n - 1 (1 at the start).
    """
    start = time.perf_counter()
    eta, mu, gamma, epsilon, osm = model.eta, model.mu, model.gamma, model.epsilon, model.osm
    tol, gtol, max_iter, pd_tol_rel = options.tol, options.gtol, options.max_iter, \
        options.pd_tol_rel
    pd_tol = options.pd_tol
    sch = SCHEME_RULES[options.scheme]
    shape, dtype = f.shape, f.dtype
    h = shape[0]
    slack = sch.slack_per_pixel * f.size
    # u0, v0 are taken over as work arrays unless they alias another input
    others = (f, alpha, w)
    u = u0.copy() if any(np.may_share_memory(u0, x) for x in others + (v0,)) else u0
    v = v0.copy() if any(np.may_share_memory(v0, x) for x in others) else v0
    u_prev, v_prev = u0.copy(), v0.copy()
    gu, gv, p1, vd = (np.empty(shape, dtype) for _ in range(4))
    partial = np.empty((h, 8))
    rows_per_block = block_rows(h)
    rows = np.empty((-(-h // rows_per_block), K.ROW_BUFFERS, shape[1]), dtype)
    reg_kind = model.kind
    smooth_reg = model.smooth_kind(options.v_step)  # R in the explicit v-step (or none)
    prox = None
    if model.takes_prox(options.v_step):
        prox = HuberProx(shape, dtype, eta=eta, kappa=sch.kappa(epsilon, eta),
                         pd_tol=pd_tol, pd_max_iter=options.pd_max_iter,
                         warm_start=options.warm_start)

    # evaluate(): gradients at (u, v) into gu, gv; returns (S(u, v), R(v), E(u, v),
    # |grad E|), the last NaN for the paper scheme, which does not compute it.
    # gaps(): the descent gaps of the pending blocks. A v-step that leaves v > 0 gets an
    # infinite gap: E is defined for v > 0 only (v |grad(u/v)|^2 is unbounded below).
    if sch.paper:  # docs/model.md 6
        def evaluate():
            so, sm, sf, r = K.paper_gradients(u, v, w, f, alpha, osm, mu, gamma, epsilon,
                                              reg_kind, gu, gv, partial)
            if smooth_reg:
                K.reg_gradient_add(v, smooth_reg, eta, epsilon, gv, partial)
            return so + sm, r, so + sm + sf + eta * r, math.nan

        def gaps(test_u, test_v, p2, v_start):
            # until a block moves, gu and gv hold the paper gradients at this (u, v), the
            # ones the tests would compute (gv without a smooth regulariser's part)
            fresh = test_u and test_v
            s0, su, ipu, squ, sv, ipv, sqv, v_min = K.paper_tests(
                p1, p2, u, v, v_start, w, gu, gv, osm, mu, test_u, test_v, fresh,
                fresh and not smooth_reg, partial)
            if smooth_reg and test_v:  # the paper test's gradient lacks the regulariser
                rp, rv, rip = K.reg_descent(v, p2, smooth_reg, epsilon, partial)
                sv, ipv = sv + eta * (rp - rv), ipv + eta * rip
            gap_u = su - s0 - ipu - 0.5 * bt_u.lip * squ - slack
            gap_v = sv - s0 - ipv - 0.5 * bt_v.lip * sqv - slack
            return gap_u, (gap_v if v_min > 0.0 else math.inf)
    else:  # docs/model.md 5: both tests at the iterate of the iteration's start
        def evaluate():
            so, sm, sf, r, gn = K.gradient_energy(
                u, v, w, f, alpha, osm, mu, gamma, eta, eta if smooth_reg else 0.0, epsilon,
                reg_kind, gu, gv, rows, rows_per_block, partial)
            return so + sm, r, so + sm + sf + eta * r, math.sqrt(gn)

        def gaps(test_u, test_v, p2, v_start):
            su, ipu, squ, sv, ipv, sqv, rp, v_min = K.descent_pair(
                p1, p2, u, v, w, gu, gv, osm, mu, epsilon, smooth_reg, test_u, test_v, rows,
                rows_per_block, partial)
            gap_u = su - s_start - ipu - 0.5 * bt_u.lip * squ
            gap_v = sv - s_start - ipv - 0.5 * bt_v.lip * sqv
            if smooth_reg:
                gap_v += eta * (rp - r_start)
            return gap_u, (gap_v if v_min > 0.0 else math.inf)

    bt_u, bt_v = Backtracking(), Backtracking()
    energies, pd_counts, pd_accepted, stationarity = [], [], [], []
    s_start, r_start, e_prev, g0 = evaluate()
    g0 = g0 if gnorm_ref is None else gnorm_ref
    reason = STOP_MAX_ITER
    for n in range(1, max_iter + 1):
        if e_prev == 0.0:
            reason = STOP_ZERO
            break
        v_start = v
        done_u = done_v = False
        bt_u.retries = bt_v.retries = 0
        pd_total = pd_last = 0
        p2 = v  # no v candidate yet; the tests skip a block they are not asked for
        while not (done_u and done_v):
            if not done_u:
                a1 = step_size(BETA, bt_u.lip)
                K.u_step_prox(u, u_prev, gu, f, alpha, a1, BETA, gamma, p1)
            if not done_v:
                a2 = step_size(BETA, bt_v.lip)
                K.v_step(v, v_prev, gv, a2, BETA, vd)
                if prox is None:
                    p2 = vd
                else:
                    if pd_tol_rel is not None:
                        progress = stationarity[-1] if stationarity else 1.0
                        prox.pd_tol = max(pd_tol, pd_tol_rel * progress)
                    p2, pd_last = prox(vd, a2)
                    pd_total += pd_last
            # both pending tests at the same (u, v), then the accepted blocks move
            gap_u, gap_v = gaps(not done_u, not done_v, p2, v_start)
            ok_u = not done_u and bt_u.update(sch.accepts(gap_u))
            ok_v = not done_v and bt_v.update(sch.accepts(gap_v))
            done_u, done_v = done_u or ok_u, done_v or ok_v
            if sch.moves_at_once:
                if ok_u:
                    u_prev, u, p1 = u, p1, u_prev
                if ok_v:
                    v_prev, v, vd = _accept_v(v, v_prev, vd, prox)
            if bt_u.exhausted or bt_v.exhausted:
                break
        if not (done_u and done_v):
            reason = STOP_BACKTRACKING
            break
        if not sch.moves_at_once:  # x_prev <- x, x <- p, recycling the buffers
            u_prev, u, p1 = u, p1, u_prev
            v_prev, v, vd = _accept_v(v, v_prev, vd, prox)
        # the next iteration's gradients, and the energy E_n at the new iterate
        s_start, r_start, e, g = evaluate()
        energies.append(e)
        stationarity.append(g / g0 if g0 > 0 else 0.0)
        pd_counts.append(pd_total)
        pd_accepted.append(pd_last)
        if callback is not None and callback(channel, n, e) is False:
            reason = STOP_CALLBACK
            break
        if n >= MIN_ITER and abs(e - e_prev) < tol * abs(e_prev):
            reason = STOP_TOLERANCE
            break
        if gtol is not None and stationarity[-1] <= gtol:
            reason = STOP_STATIONARITY
            break
        e_prev = e
    return ChannelSolution(u=u, v=v, energies=np.asarray(energies, dtype=np.float64),
                           pd_iterations=np.asarray(pd_counts, dtype=np.int64),
                           pd_accepted=np.asarray(pd_accepted, dtype=np.int64),
                           stationarity=np.asarray(stationarity, dtype=np.float64),
                           stop_reason=reason, seconds=time.perf_counter() - start)


def _accept_v(v, v_prev, vd, prox):
    """(v_prev, v, vd) after accepting the v-step, the old v_prev buffer recycled."""
    if prox is None:  # the step itself is the new v
        return v, vd, v_prev
    return v, prox.take_result(v_prev), vd


def gradient_norm(f, alpha, w, u, v, model):
    """The norm of the exact energy's gradient at (u, v) (arrays as for solve_channel)
    under ``model``."""
    h, wd = f.shape
    rows_per_block = block_rows(h)
    rows = np.empty((-(-h // rows_per_block), K.ROW_BUFFERS, wd), f.dtype)
    gu, gv = np.empty_like(f), np.empty_like(f)
    m = model
    t = K.gradient_energy(u, v, w, f, alpha, m.osm, m.mu, m.gamma, m.eta, 0.0, m.epsilon,
                          m.kind, gu,
                          gv, rows, rows_per_block, np.empty((h, 8)))
    return math.sqrt(t[4])
