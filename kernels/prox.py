"""The primal-dual loop of the Huber-TV prox (docs/model.md 5.1): step sizes, stopping
rules, and when to run two iterations per pass.

The iterations themselves are ``huber.pd_iteration`` (one) and ``huber.pd_pair`` (two in
one pass over the arrays); this module decides which to call, carries the step sizes
(in float64) and the residuals, and stops.
"""

import math

from numba import njit, types

from ._types import INT, JIT, PARTIAL, kernel, row
from .huber import pd_iteration, pd_pair
from .operators import grad


@njit(**JIT)
def _stops(res, pd_tol, floor, tau_next, plateau, best, since_best):
    """The loop's stopping test after one iteration with step ``tau_next`` after it;
    returns (stop, best, since_best)."""
    if res < max(pd_tol, floor / tau_next):
        return True, best, since_best
    if plateau > 0:
        if res < best:
            return False, res, 0
        return since_best + 1 >= plateau, best, since_best + 1
    return False, best, since_best


@njit(**JIT)
def _next_steps(g, theta, tau, sigma):
    """(theta, tau, sigma) of the next iteration of the accelerated scheme."""
    theta_next = 1.0 / math.sqrt(1.0 + 2.0 * g * tau)
    return theta_next, theta_next * tau, sigma / theta_next


CERTAIN_MARGIN = 1.5


@njit(**JIT)
def _certain(pd_tol, floor, tau_next, plateau, n):
    """The residual sum past which the kernels may stop summing it: CERTAIN_MARGIN times
    the loop's threshold, so that the residuals near the threshold, which the prediction
    of the loop's end reads, are whole ones; inf where the plateau rule needs every
    value."""
    if plateau > 0:
        return math.inf
    return max(pd_tol, floor / tau_next) * n * CERTAIN_MARGIN


@njit(**JIT)
def _predicted(res, res_before):
    """The next residual if it falls by the ratio of the last one (not above ``res``
    where the residual rose); inf without two residuals yet."""
    if not res_before < math.inf:
        return math.inf
    return res * min(1.0, res / res_before)


# the compiled dispatchers, for the loop to call (a Kernel is a Python object)
_grad, _pd_pair, _pd_iteration = grad.dispatcher, pd_pair.dispatcher, pd_iteration.dispatcher


@kernel(lambda A, F: types.UniTuple(INT, 3)(
        A, types.float64, types.float64, types.float64, types.float64, INT, INT,
        types.float64, types.boolean, A, A, A, A, A, A, A, A, A, A, types.Array(F, 3, "C"),
        row(F), INT, PARTIAL), needs=(grad, pd_pair, pd_iteration))
def huber_prox(vd, a2, eta, kappa, pd_tol, pd_max_iter, plateau, floor, warm,
               xa, xba, y1a, y2a, xb_, xbb, y1b, y2b,
               scratch1, scratch2, ring, zero, block_rows, partial):
    """Run the primal-dual loop; return (iterations, parity, redone).

    The dual starts from (y1a, y2a) when ``warm`` is true, else from grad vd; x and xbar
    start at vd. The result x and the final dual lie in set a (x, xbar, y1, y2 = xa,
    xba, y1a, y2a) when parity is 0, in set b when it is 1. ``plateau`` > 0 also stops
    when the residual has not reached a new minimum for that many iterations, and
    ``floor`` > 0 when it is below ``floor / tau_next`` (the float32 rounding floor: the
    rounding of x alone makes |x - x_new| / tau_next of that order, growing as tau
    shrinks). The step sizes tau, sigma, theta are carried in float64 and rounded to the
    image's type at each iteration's call.

    The loop runs two iterations per pass (``pd_pair``, ``ring`` its row buffers,
    ``partial`` 4 columns) and one at a time (``pd_iteration``) where the residual,
    falling by the ratio of its last step, would meet the tolerance at the next
    iteration, or one iteration is left. Where the first of a pair meets the stopping
    rule all the same (a plateau, or a residual that fell faster), the pair is thrown
    away and that iteration redone alone (``redone`` = 1), so the iterates and counts
    are those of one iteration at a time either way. Without the plateau rule, each row
    block stops computing an iteration's residual once its own rows show that the
    iteration cannot stop the loop (``pd_iteration``'s ``certain``).
    """
    if not warm:
        _grad(vd, y1a, y2a)
    n = vd.size
    g = 0.5 / a2
    tau = 0.99 / 8.0
    sigma = 0.99 / (tau * 8.0)
    theta = 1.0
    best = math.inf
    since_best = 0
    res_before = res_last = math.inf
    parity = 0
    it = 0
    redone = 0
    stop = False
    while not stop and it < pd_max_iter:
        if it == 0:
            src = (vd, vd, y1a, y2a)
        else:
            src = (xa, xba, y1a, y2a) if parity == 0 else (xb_, xbb, y1b, y2b)
        dst = (xb_, xbb, y1b, y2b) if parity == 0 else (xa, xba, y1a, y2a)
        theta_n, tau_n, sigma_n = _next_steps(g, theta, tau, sigma)
        near_end = _predicted(res_last, res_before) < max(pd_tol, floor / tau_n)
        if it + 2 <= pd_max_iter and not near_end:
            theta_2, tau_2, sigma_2 = _next_steps(g, theta_n, tau_n, sigma_n)
            res, res2 = _pd_pair(vd, src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2],
                                dst[3], scratch1, scratch2, ring, zero, a2, kappa, eta,
                                tau, sigma, theta, tau_n, sigma_n,
                                tau_n, sigma_n, theta_n, tau_2, sigma_2, block_rows, partial,
                                _certain(pd_tol, floor, tau_n, plateau, n),
                                _certain(pd_tol, floor, tau_2, plateau, n))
            stop, best, since_best = _stops(res, pd_tol, floor, tau_n, plateau, best,
                                            since_best)
            if not stop:  # keep the pair: two iterations done
                parity ^= 1
                it += 2
                theta, tau, sigma = theta_2, tau_2, sigma_2
                res_before, res_last = res, res2
                stop, best, since_best = _stops(res2, pd_tol, floor, tau, plateau, best,
                                                since_best)
                continue
            redone = 1
        # one iteration alone (a redone one needs no residual: the pair's was the same)
        res = _pd_iteration(vd, src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2],
                           dst[3], scratch1, scratch2, zero, a2, tau, sigma, theta, tau_n,
                           sigma_n, kappa, eta, block_rows, partial,
                           0.0 if redone else _certain(pd_tol, floor, tau_n, plateau, n))
        parity ^= 1
        it += 1
        theta, tau, sigma = theta_n, tau_n, sigma_n
        res_before, res_last = res_last, res
        if redone:  # the pair's first iteration, which met the rule: the same residual
            break
        stop, best, since_best = _stops(res, pd_tol, floor, tau, plateau, best, since_best)
    return it, parity, redone
