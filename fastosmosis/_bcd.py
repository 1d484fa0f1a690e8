"""Block coordinate descent to the model's minimiser, one channel.

Each outer iteration minimises E over u for the current v (the u-block is a convex
quadratic: conjugate gradients preconditioned by multigrid, ``_multigrid``), then takes
a few backtracked descent steps in v at the new u, either explicit steps of the whole
energy (E is C^1: the Huber term is differentiable) or forward-backward steps with the
Huber-TV prox, whose primal-dual tolerance then follows the outer progress too (at most
``pd_tol``, and ``FORCING`` times the gradient norm per pixel). Every accepted step
decreases E: a prox step is tested on S (the forward-backward descent lemma) and on E
itself, and where the prox stopped too early for E to fall, the step is redone with a
tolerance ten times tighter, kept for the rest of the channel. A channel stops when the
stationarity, the norm of the energy's gradient over the same at the start, reaches
``gtol``.

The linear solve is inexact on purpose, loose early and tight at the end: it stops when
``||dE/du||`` is below ``FORCING`` times the gradient norm at the start of the outer
iteration, and never needs to go below ``FLOOR * gtol`` of the start's.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import kernels as K
from ._driver import (
    STOP_BACKTRACKING,
    STOP_CALLBACK,
    STOP_FLOOR,
    STOP_MAX_ITER,
    STOP_STATIONARITY,
    STOP_TOLERANCE,
    Backtracking,
    ChannelSolution,
    HuberProx,
    block_rows,
)
from ._multigrid import KERNELS as LINEAR_KERNELS
from ._multigrid import USolver
from .model import GTOL

FORCING = 0.1  # a u-solve stops at ||dE/du|| <= FORCING |grad E| of the outer start
FLOOR = 0.1  # ... and need not go below FLOOR * gtol |grad E(u0, v0)|
V_STEPS = 3  # backtracked v-steps after each u-solve
LINEAR_MAX_ITER = 100  # conjugate-gradient iterations of one u-solve, at most
STALL = 3  # outer iterations without halving the gradient norm: the rounding floor
# (each outer iteration divides it by about ten until then)
STEP = 0.99  # the v-step is STEP / L: the descent test then guarantees a decrease


def kernels(*, prox):
    """The kernels that ``solve_channel_bcd`` calls (with the Huber-TV prox or not)."""
    own = (K.gradient_energy, K.v_step, K.v_descent) + ((K.huber_prox,) if prox else ())
    return own + LINEAR_KERNELS


PROX_TIGHTEN = 6  # tighter prox tolerances (10x each) tried for one v-step, at most
# A counts as singular below this fraction of an ulp of 8 osm max(v) N
SINGULAR = {np.float32: 1e-3, np.float64: 1e-1}
NEAR_SINGULAR = 1e3  # ... and a float32 A is solved in float64 below this many ulps


def _constant_mode_ulps(alpha, v, gamma, osm):
    """The u-block's smallest eigenvalue in ulps of its diagonal (0: exactly singular).

    Its constant mode has the eigenvalue ``gamma sum(alpha v^2) / N``, against a
    diagonal of about ``8 osm max v``; rounding in the residual moves that mode's
    coefficient by the ratio of the two. Measured: with alpha = 1e-30 on one pixel of a
    40 x 37 image and 0 elsewhere the solve put u / v at 1278 (u = f there: about 1);
    a single pixel with alpha = 1 is still solved right in float32 at 4 megapixels.
    The float32 threshold ``SINGULAR`` sits between the two. Above it, float32
    conjugate gradients still set that mode by rounding up to a few ulps (u ended at 24
    where float64 gives 0.6, E rising at every outer iteration: tests/test_properties.py);
    there, and up to ``NEAR_SINGULAR``, a float32 channel solves its u-block in float64,
    where the same matrix is 5e8 ulps away from singular. In float64, E rose in 2 of 40
    random problems of up to 11 x 11 pixels at 1e-3 and 1e-2 ulps, none from 3e-3 up
    with the threshold at 0.1 (and none in float32 from 1e-3 to 100 ulps with the
    float64 solve).
    """
    if gamma == 0:
        return 0.0
    ulp = float(np.finfo(v.dtype).eps)
    v_min, v_max = float(v.min()), float(v.max())
    return gamma * float(alpha.sum()) * v_min * v_min / (ulp * 8 * osm * v_max * v.size)


class _Float64Block:
    """The u-block of a float32 channel solved in float64: copies of f and alpha, buffers
    for u and v, converted at each solve, and a float64 solver (only near-singular
    channels pay this: four more float64 images and a float64 solver's arrays)."""

    def __init__(self, f, alpha, **solver):
        self.f, self.alpha = f.astype(np.float64), alpha.astype(np.float64)
        self.u, self.v = np.empty(f.shape), np.empty(f.shape)
        self.solver = USolver(f.shape, np.float64, **solver)

    def solve(self, u, v, alpha, f, **kw):
        np.copyto(self.u, u)
        np.copyto(self.v, v)
        info = self.solver.solve(self.u, self.v, self.alpha, self.f, **kw)
        np.copyto(u, self.u)  # rounded to u's float32
        return info


def solve_channel_bcd(f, alpha, w, u0, v0, model, options, *, gnorm_ref=None, channel=0,
                      callback=None, v_steps=V_STEPS, forcing=FORCING,
                      linear_max_iter=LINEAR_MAX_ITER, coarsest=None):
    """Minimise E(u, v) (``model``, a :class:`~fastosmosis.model.Model`) for one channel
    by block coordinate descent (``options``, a :class:`~fastosmosis.model.SolverOptions`;
    its scheme and ``pd_tol_rel`` do not apply).

    Arrays as for ``_driver.solve_channel`` (C-contiguous, one float dtype, offset
    added; u0 and v0 are taken over as work arrays unless they alias another input).
    ``max_iter`` counts outer iterations; ``gtol`` (default ``GTOL``) is the
    stationarity to stop at, measured against ``gnorm_ref`` (default the norm of the
    energy's gradient at (u0, v0)); ``tol``, if given, also stops on a relative energy
    change below it. The energies, stationarities and counts are recorded once per
    outer iteration; ``pd_iterations`` then counts the primal-dual iterations of the
    v-block (0 with an explicit v-step) and ``linear_iterations`` those of the u-solve.

    When gamma = 0 or alpha = 0 everywhere, A is singular and r = u / v is free up to
    one constant (the grid is connected): the u-block then takes ``u = c v`` with
    ``c = <u, v> / <v, v>``, the minimiser closest to the current u. So it does where A
    is singular to rounding (``_constant_mode_ulps``): there the constant would be set
    by rounding noise, not by the data.
    """
    start = time.perf_counter()
    eta, mu, gamma, epsilon, osm = model.eta, model.mu, model.gamma, model.epsilon, model.osm
    tol, max_iter, pd_tol = options.tol, options.max_iter, options.pd_tol
    gtol = GTOL if options.gtol is None else options.gtol
    shape, dtype = f.shape, f.dtype
    h = shape[0]
    others = (f, alpha, w)
    u = u0.copy() if any(np.may_share_memory(u0, x) for x in others + (v0,)) else u0
    v = v0.copy() if any(np.may_share_memory(v0, x) for x in others) else v0
    kw = {} if coarsest is None else {"coarsest": coarsest}
    lin = USolver(shape, dtype, **kw)
    # between u-solves the solver's arrays are free: the gradients and the v candidate
    # live there (an accepted candidate swaps places with v, in the solver too)
    gu, gv = lin.q, lin.p
    partial = np.empty((h, 8))
    rows_per_block = block_rows(h)
    nblocks = -(-h // rows_per_block)
    rows = np.empty((nblocks, K.ROW_BUFFERS, shape[1]), dtype)
    rows64 = np.empty((nblocks, 4, shape[1]))
    reg_kind = model.kind
    smooth_reg = model.smooth_kind(options.v_step)  # R in the explicit v-step (or none)
    prox = None
    if model.takes_prox(options.v_step):
        prox = HuberProx(shape, dtype, eta=eta, kappa=epsilon / eta, pd_tol=pd_tol,
                         pd_max_iter=options.pd_max_iter, warm_start=options.warm_start)
    q = _constant_mode_ulps(alpha, v, gamma, osm)
    degenerate = q <= SINGULAR[dtype.type]
    u_block = lin  # the u-block's solver: this dtype's, or float64 where A is near-singular
    if not degenerate and q < NEAR_SINGULAR and dtype != np.float64:
        u_block = _Float64Block(f, alpha, **kw)
    pd_scale = 1.0  # the prox's tolerance, tightened for good where it proved too loose

    def evaluate():
        """Gradients at (u, v) into gu, gv; (E, |grad E|) there."""
        so, sm, sf, r, gn = K.gradient_energy(
            u, v, w, f, alpha, osm, mu, gamma, eta, eta if smooth_reg else 0.0, epsilon,
            reg_kind, gu, gv, rows, rows_per_block, partial)
        return so + sm + sf + eta * r, math.sqrt(gn)

    e_cur, g = evaluate()
    g0 = g if gnorm_ref is None else gnorm_ref
    goal = gtol * g0
    bt = Backtracking(mu)  # the mu term alone makes the v-block's Lipschitz constant at least mu
    energies, stationarity, pd_counts, lin_counts = [], [], [], []
    reason = STOP_STATIONARITY if g <= goal else STOP_MAX_ITER
    n = 0
    mark, stalled = g, 0  # outer iterations since the gradient norm last halved
    while reason == STOP_MAX_ITER and n < max_iter:
        n += 1
        e_prev = e_cur
        # the u-block: its exact minimiser for this v (to the solve's tolerance)
        if degenerate:
            np.multiply(v, dtype.type(K.dot(u, v, partial) / K.dot(v, v, partial)), out=u)
            lin_its = 0
        else:
            lin_its = u_block.solve(u, v, alpha, f, osm=osm, gamma=gamma,
                                    target=max(forcing * g, FLOOR * goal),
                                    max_iter=linear_max_iter).iterations
        e_cur, g = evaluate()
        moved = lin_its > 0 or degenerate
        # the v-block
        pd_total = 0
        if g > goal:
            for _ in range(v_steps):
                bt.retries = 0
                tightened = 0
                while True:
                    a2 = STEP / bt.lip
                    K.v_step(v, v, gv, a2, 0.0, lin.z)
                    if prox is None:
                        p2 = lin.z
                    else:  # the prox as exact as the outer progress needs
                        prox.pd_tol = pd_scale * min(pd_tol, forcing * g / math.sqrt(f.size))
                        p2, pd_last = prox(lin.z, a2)
                        pd_total += pd_last
                    de, ipv, sqv, v_min = K.v_descent(
                        u, v, p2, w, gv, osm, mu, eta if smooth_reg else 0.0, epsilon,
                        reg_kind, rows64, rows_per_block, partial)
                    fits = v_min > 0.0 and de - ipv - 0.5 * bt.lip * sqv <= 0.0
                    if fits and prox is not None and K.v_descent(
                            u, v, p2, w, gv, osm, mu, eta, epsilon, reg_kind, rows64,
                            rows_per_block, partial)[0] > 0.0:
                        # the step fits S, but the prox stopped too early for E itself
                        # to fall: the same step again with a tighter prox
                        if tightened < PROX_TIGHTEN:
                            tightened += 1
                            pd_scale *= 0.1
                            continue
                        fits = False
                    if bt.update(fits):
                        break
                    if bt.exhausted:
                        reason = STOP_BACKTRACKING
                        break
                if reason == STOP_BACKTRACKING:
                    break
                if prox is None:
                    v, lin.z = lin.z, v
                else:
                    v = prox.take_result(v)
                moved = True
                e_cur, g = evaluate()
                if g <= goal:
                    break
        mark, stalled = (g, 0) if g < 0.5 * mark else (mark, stalled + 1)
        energies.append(e_cur)
        stationarity.append(g / g0 if g0 > 0 else 0.0)
        pd_counts.append(pd_total)
        lin_counts.append(lin_its)
        if reason == STOP_BACKTRACKING:
            break
        halt = callback is not None and callback(channel, n, e_cur) is False
        if g <= goal:
            reason = STOP_STATIONARITY
        elif halt:
            reason = STOP_CALLBACK
        elif not moved or stalled >= STALL:  # E's rounding floor: no block can go on
            reason = STOP_FLOOR
        elif tol is not None and abs(e_cur - e_prev) < tol * abs(e_prev):
            reason = STOP_TOLERANCE
    return ChannelSolution(u=u, v=v, energies=np.asarray(energies, dtype=np.float64),
                           pd_iterations=np.asarray(pd_counts, dtype=np.int64),
                           pd_accepted=np.asarray(pd_counts, dtype=np.int64),
                           stationarity=np.asarray(stationarity, dtype=np.float64),
                           stop_reason=reason, seconds=time.perf_counter() - start,
                           linear_iterations=np.asarray(lin_counts, dtype=np.int64))
