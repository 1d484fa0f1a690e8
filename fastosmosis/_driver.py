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


class _Passes:
    """The kernels of one scheme at one channel: the gradients and energy at (u, v), and
    the descent gaps of the pending blocks (docs/model.md 5 and 6). ``gu``, ``gv`` hold
    the gradients of the last :meth:`evaluate`."""

    slack_per_pixel = 0.0
    moves_at_once = False  # accepted blocks move at the end of the iteration

    def __init__(self, f, alpha, w, model, v_step):
        shape, dtype = f.shape, f.dtype
        h = shape[0]
        self.f, self.alpha, self.w, self.model = f, alpha, w, model
        self.smooth_reg = model.smooth_kind(v_step)  # R in the explicit v-step (or none)
        self.gu, self.gv = np.empty(shape, dtype), np.empty(shape, dtype)
        self.partial = np.empty((h, 8))
        self.rows_per_block = block_rows(h)
        self.rows = np.empty((-(-h // self.rows_per_block), K.ROW_BUFFERS, shape[1]), dtype)
        self.slack = self.slack_per_pixel * f.size

    @staticmethod
    def kappa(epsilon, eta):
        """The Huber prox's dual-step factor (docs/model.md 5.1)."""
        return epsilon / eta

    @staticmethod
    def accepts(gap):
        """The descent test (docs/model.md 5): gap <= 0."""
        return gap <= 0.0


class _ExactPasses(_Passes):
    """docs/model.md 5: exact gradients; both tests at the iterate of the iteration's
    start, whose S and R :meth:`evaluate` keeps."""

    def evaluate(self, u, v):
        """Gradients at (u, v) into gu, gv; returns (E, |grad E|) there."""
        m = self.model
        so, sm, sf, r, gn = K.gradient_energy(
            u, v, self.w, self.f, self.alpha, m.osm, m.mu, m.gamma, m.eta,
            m.eta if self.smooth_reg else 0.0, m.epsilon, m.kind, self.gu, self.gv,
            self.rows, self.rows_per_block, self.partial)
        self.s_start, self.r_start = so + sm, r
        return so + sm + sf + m.eta * r, math.sqrt(gn)

    def gaps(self, u, v, p1, p2, v_start, test_u, test_v, lip_u, lip_v):
        """The descent gaps of the candidates p1 (u) and p2 (v) where ``test_u``,
        ``test_v``; a v-step that leaves v > 0 gets an infinite gap: E is defined for
        v > 0 only (v |grad(u/v)|^2 is unbounded below)."""
        m = self.model
        su, ipu, squ, sv, ipv, sqv, rp, v_min = K.descent_pair(
            p1, p2, u, v, self.w, self.gu, self.gv, m.osm, m.mu, m.epsilon,
            self.smooth_reg, test_u, test_v, self.rows, self.rows_per_block, self.partial)
        gap_u = su - self.s_start - ipu - 0.5 * lip_u * squ
        gap_v = sv - self.s_start - ipv - 0.5 * lip_v * sqv
        if self.smooth_reg:
            gap_v += m.eta * (rp - self.r_start)
        return gap_u, (gap_v if v_min > 0.0 else math.inf)


class _PaperPasses(_Passes):
    """docs/model.md 6: the authors' gradients; tests on every pass at the current
    (u, v), an accepted block moving at once, accepted below a slack of 1e-10 N."""

    slack_per_pixel = 1e-10
    moves_at_once = True

    @staticmethod
    def kappa(epsilon, eta):
        return epsilon

    @staticmethod
    def accepts(gap):
        """The paper's descent test (docs/model.md 6.3): gap < 0."""
        return gap < 0.0

    def evaluate(self, u, v):
        """The paper's gradients at (u, v) into gu, gv; returns (E, NaN): the scheme
        does not compute |grad E|."""
        m = self.model
        so, sm, sf, r = K.paper_gradients(u, v, self.w, self.f, self.alpha, m.osm, m.mu,
                                          m.gamma, m.epsilon, m.kind, self.gu, self.gv,
                                          self.partial)
        if self.smooth_reg:
            K.reg_gradient_add(v, self.smooth_reg, m.eta, m.epsilon, self.gv, self.partial)
        return so + sm + sf + m.eta * r, math.nan

    def gaps(self, u, v, p1, p2, v_start, test_u, test_v, lip_u, lip_v):
        m = self.model
        # until a block moves, gu and gv hold the paper gradients at this (u, v), the
        # ones the tests would compute (gv without a smooth regulariser's part)
        fresh = test_u and test_v
        s0, su, ipu, squ, sv, ipv, sqv, v_min = K.paper_tests(
            p1, p2, u, v, v_start, self.w, self.gu, self.gv, m.osm, m.mu, test_u,
            test_v, fresh, fresh and not self.smooth_reg, self.partial)
        if self.smooth_reg and test_v:  # the paper test's gradient lacks the regulariser
            rp, rv, rip = K.reg_descent(v, p2, self.smooth_reg, m.epsilon, self.partial)
            sv, ipv = sv + m.eta * (rp - rv), ipv + m.eta * rip
        gap_u = su - s0 - ipu - 0.5 * lip_u * squ - self.slack
        gap_v = sv - s0 - ipv - 0.5 * lip_v * sqv - self.slack
        return gap_u, (gap_v if v_min > 0.0 else math.inf)


SCHEME_PASSES = {"exact": _ExactPasses, "paper": _PaperPasses}  # per name of model.SCHEMES


def kernels(*, paper, prox, smooth):
    """The kernels that ``solve_channel`` calls for a scheme (``paper`` or not), with
    the Huber-TV prox or not and with a regulariser in the explicit v-step or not."""
    if paper:
        own = (K.paper_gradients, K.paper_tests) \
            + ((K.reg_gradient_add, K.reg_descent) if smooth else ())
    else:
        own = (K.gradient_energy, K.descent_pair)
    return own + (K.u_step_prox, K.v_step) + ((K.huber_prox,) if prox else ())


class _Iterates:
    """(u, v), the previous iterate and the candidates' buffers, swapped by reference."""

    def __init__(self, u0, v0, others):
        # u0, v0 are taken over as work arrays unless they alias another input
        self.u = u0.copy() if any(np.may_share_memory(u0, x) for x in others + (v0,)) else u0
        self.v = v0.copy() if any(np.may_share_memory(v0, x) for x in others) else v0
        self.u_prev, self.v_prev = u0.copy(), v0.copy()
        self.p1, self.vd = np.empty_like(u0), np.empty_like(v0)

    def take_u(self):
        """x_prev <- x, x <- p1, recycling the old x_prev as the next candidate."""
        self.u_prev, self.u, self.p1 = self.u, self.p1, self.u_prev

    def take_v(self, prox):
        """The same for v: the step itself, or the prox's result."""
        if prox is None:
            self.v_prev, self.v, self.vd = self.v, self.vd, self.v_prev
        else:
            self.v_prev, self.v = self.v, prox.take_result(self.v_prev)


def _iteration(x, passes, prox, bt_u, bt_v, gamma):
    """One block iPiano iteration: backtracked steps of both blocks until both descent
    tests accept (docs/model.md 5; 6 for the paper scheme). Returns (primal-dual
    iterations in all, those of the accepted v-step), or None where backtracking gave up.
    """
    f, alpha, gu, gv = passes.f, passes.alpha, passes.gu, passes.gv
    v_start = x.v
    done_u = done_v = False
    bt_u.retries = bt_v.retries = 0
    pd_total = pd_last = 0
    p2 = x.v  # no v candidate yet; the tests skip a block they are not asked for
    while not (done_u and done_v):
        if not done_u:
            a1 = step_size(BETA, bt_u.lip)
            K.u_step_prox(x.u, x.u_prev, gu, f, alpha, a1, BETA, gamma, x.p1)
        if not done_v:
            a2 = step_size(BETA, bt_v.lip)
            K.v_step(x.v, x.v_prev, gv, a2, BETA, x.vd)
            if prox is None:
                p2 = x.vd
            else:
                p2, pd_last = prox(x.vd, a2)
                pd_total += pd_last
        # both pending tests at the same (u, v), then the accepted blocks move
        gap_u, gap_v = passes.gaps(x.u, x.v, x.p1, p2, v_start, not done_u, not done_v,
                                   bt_u.lip, bt_v.lip)
        ok_u = not done_u and bt_u.update(passes.accepts(gap_u))
        ok_v = not done_v and bt_v.update(passes.accepts(gap_v))
        done_u, done_v = done_u or ok_u, done_v or ok_v
        if passes.moves_at_once:
            if ok_u:
                x.take_u()
            if ok_v:
                x.take_v(prox)
        if bt_u.exhausted or bt_v.exhausted:
            return None
    if not passes.moves_at_once:
        x.take_u()
        x.take_v(prox)
    return pd_total, pd_last


def solve_channel(f, alpha, w, u0, v0, model, options, *, gnorm_ref=None, channel=0,
                  callback=None):
    """Minimise E(u, v) of docs/model.md 3 (``model``, a :class:`~fastosmosis.model.Model`)
    for one channel by block iPiano (``options``, a
    :class:`~fastosmosis.model.SolverOptions`).

    All arrays are C-contiguous 2-D of one float dtype with the offset added; u0 and v0
    become work arrays (the caller hands them over) unless they alias another argument,
    the others are not modified. What differs between the schemes is their passes
    object (``SCHEME_PASSES``). Huber-TV is taken by the primal-dual prox
    (``v_step="prox"``) or in the explicit v-step, Tikhonov always in the explicit
    v-step. The stationarity (and ``gtol``) is measured against ``gnorm_ref``, by default
    |grad E(u0, v0)|. ``pd_tol_rel`` ties the primal-dual tolerance to the outer progress:
    iteration n stops the prox at ``max(pd_tol, pd_tol_rel * s)``, with s the
    stationarity after iteration n - 1 (1 at the start).
    """
    start = time.perf_counter()
    tol, gtol, pd_tol_rel = options.tol, options.gtol, options.pd_tol_rel
    passes = SCHEME_PASSES[options.scheme](f, alpha, w, model, options.v_step)
    x = _Iterates(u0, v0, (f, alpha, w))
    prox = None
    if model.takes_prox(options.v_step):
        prox = HuberProx(f.shape, f.dtype, eta=model.eta,
                         kappa=passes.kappa(model.epsilon, model.eta), pd_tol=options.pd_tol,
                         pd_max_iter=options.pd_max_iter, warm_start=options.warm_start)
    bt_u, bt_v = Backtracking(), Backtracking()
    energies, pd_counts, pd_accepted, stationarity = [], [], [], []
    e_prev, g0 = passes.evaluate(x.u, x.v)
    g0 = g0 if gnorm_ref is None else gnorm_ref
    reason = STOP_MAX_ITER
    for n in range(1, options.max_iter + 1):
        if e_prev == 0.0:
            reason = STOP_ZERO
            break
        if prox is not None and pd_tol_rel is not None:
            progress = stationarity[-1] if stationarity else 1.0
            prox.pd_tol = max(options.pd_tol, pd_tol_rel * progress)
        counts = _iteration(x, passes, prox, bt_u, bt_v, model.gamma)
        if counts is None:
            reason = STOP_BACKTRACKING
            break
        # the next iteration's gradients, and the energy E_n at the new iterate
        e, g = passes.evaluate(x.u, x.v)
        energies.append(e)
        stationarity.append(g / g0 if g0 > 0 else 0.0)
        pd_counts.append(counts[0])
        pd_accepted.append(counts[1])
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
    return ChannelSolution(u=x.u, v=x.v, energies=np.asarray(energies, dtype=np.float64),
                           pd_iterations=np.asarray(pd_counts, dtype=np.int64),
                           pd_accepted=np.asarray(pd_accepted, dtype=np.int64),
                           stationarity=np.asarray(stationarity, dtype=np.float64),
                           stop_reason=reason, seconds=time.perf_counter() - start)


def gradient_norm(f, alpha, w, u, v, model):
    """The norm of the exact energy's gradient at (u, v) (arrays as for solve_channel)
    under ``model``."""
    h, wd = f.shape
    rows_per_block = block_rows(h)
    rows = np.empty((-(-h // rows_per_block), K.ROW_BUFFERS, wd), f.dtype)
    m = model
    t = K.gradient_energy(u, v, w, f, alpha, m.osm, m.mu, m.gamma, m.eta, 0.0, m.epsilon,
                          m.kind, np.empty_like(f), np.empty_like(f), rows, rows_per_block,
                          np.empty((h, 8)))
    return math.sqrt(t[4])
