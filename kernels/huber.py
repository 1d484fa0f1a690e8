"""Prox of the Huber-TV term by accelerated primal-dual (MODEL.md 5.1, eq. 14-15).

Solves ``min_p eta H_eps(|grad p|) + ||p - vd||^2 / (2 a2)``. One iteration, with
``kappa = eps / eta`` (exact conjugate; the paper scheme passes ``kappa = eps``):

    y_new = Proj_{|y| <= eta}((y + sigma grad xbar) / (1 + sigma kappa))
    x_new = (vd / a2 + (x - tau grad^T y_new) / tau) / (1 / a2 + 1 / tau)
    xbar  = x_new + theta (x_new - x)
    theta' = 1 / sqrt(1 + 2 g tau), tau' = theta' tau, sigma' = sigma / theta'
    res   = (sum|(x - x_new)/tau' - grad^T(y - y_new)|
             + sum|(y - y_new)/sigma' - grad(x - xbar)|) / N

all in one pass over the pixels. The state (x, xbar, y1, y2) is double-buffered: an
iteration reads one set and writes the other, so no pixel ever reads a value that
another thread has already overwritten. The primal step at row i needs the new dual
of row i - 1; row blocks are processed in parallel, each recomputing the new dual of
the row above it into a row buffer. Invariant: y1 is 0 on the last row and y2 on the
last column (grad^T reads them as 0 there), which ``grad`` and the dual step preserve.

The residual serves only the stopping rule, so a row block stops computing it once its
own rows show that the iteration cannot stop the loop (``certain``). The row loops are
inlined into the parallel passes (``inline="always"``): called once per row, each
call passing a dozen arrays, they cost 5-15% more at 256 columns, at the price of a
longer first compilation.
"""

import math

from numba import njit, prange, types

from ._reduce import column_sum
from ._types import INT, JIT, PARTIAL, both, row
from .operators import grad


@njit(**JIT)
def _dual_proj(y1, y2, gb1, gb2, sigma, inv_den, eta, one):
    """New dual at one pixel (one square root and one division)."""
    z1 = (y1 + sigma * gb1) * inv_den
    z2 = (y2 + sigma * gb2) * inv_den
    # projection onto |y| <= eta: z min(1, eta / |z|) (|z| = 0 gives inf, hence 1)
    s = min(one, eta / math.sqrt(z1 * z1 + z2 * z2))
    return z1 * s, z2 * s


@njit(**JIT)
def _dual_px(y1, y2, gb1, gb2, gx1, gx2, sigma, inv_den, eta, one, inv_sigma_next):
    """New dual at one pixel and its dual-residual term."""
    n1, n2 = _dual_proj(y1, y2, gb1, gb2, sigma, inv_den, eta, one)
    # grad(x - xbar_used), with the old x
    res = abs((y1 - n1) * inv_sigma_next - (gx1 - gb1)) + \
        abs((y2 - n2) * inv_sigma_next - (gx2 - gb2))
    return n1, n2, res


@njit(inline="always", **JIT)
def _dual_rows(xc, xd, bc, bd, y1c, y2c, sigma, inv_den, eta, inv_sigma_next, out1, out2):
    """New dual of one row into (out1, out2) from the primal rows here (xc, bc) and
    below (xd, bd; the same rows on the last image row); return its residual sum."""
    w = xc.shape[0]
    one = xc.dtype.type(1)
    acc = xc.dtype.type(0)  # in the image's type: a float64 sum halves float32's vectors
    for j in range(w - 1):
        n1, n2, r = _dual_px(y1c[j], y2c[j], bd[j] - bc[j], bc[j + 1] - bc[j],
                             xd[j] - xc[j], xc[j + 1] - xc[j], sigma, inv_den, eta, one,
                             inv_sigma_next)
        out1[j] = n1
        out2[j] = n2
        acc += r
    k = w - 1  # the last column: no difference along j
    n1, n2, r = _dual_px(y1c[k], y2c[k], bd[k] - bc[k], bc[k] - bc[k], xd[k] - xc[k],
                         xc[k] - xc[k], sigma, inv_den, eta, one, inv_sigma_next)
    out1[k] = n1
    out2[k] = n2
    return acc + r


@njit(inline="always", **JIT)
def _dual_rows_only(bc, bd, y1c, y2c, sigma, inv_den, eta, out1, out2):
    """``_dual_rows`` without the residual (and without reading x)."""
    w = bc.shape[0]
    one = bc.dtype.type(1)
    for j in range(w - 1):
        out1[j], out2[j] = _dual_proj(y1c[j], y2c[j], bd[j] - bc[j], bc[j + 1] - bc[j],
                                      sigma, inv_den, eta, one)
    k = w - 1
    out1[k], out2[k] = _dual_proj(y1c[k], y2c[k], bd[k] - bc[k], bc[k] - bc[k], sigma,
                                  inv_den, eta, one)


# the same loop called once per row block (the dual of the row above a block), where a
# call costs nothing and an inlined copy only compile time
_dual_row_above = njit(**JIT)(_dual_rows_only.py_func)


@njit(**JIT)
def _primal_step(vd, xo, gty, inv_a2, tau, inv_tau, inv_den, theta):
    """New (x, xbar) at one pixel from ``gty`` = grad^T of the new dual there."""
    xv = (vd * inv_a2 + (xo - tau * gty) * inv_tau) * inv_den
    return xv, xv + theta * (xv - xo)


@njit(**JIT)
def _primal_px(vd, xo, y1c, n1c, y1u, n1u, y2c, n2c, y2l, n2l, inv_a2, tau, inv_tau,
               inv_den, theta, inv_tau_next):
    """New (x, xbar) at one pixel and its primal-residual term."""
    xv, xb = _primal_step(vd, xo, -(n1c - n1u) - (n2c - n2l), inv_a2, tau, inv_tau, inv_den,
                          theta)
    dgty = -((y1c - n1c) - (y1u - n1u)) - ((y2c - n2c) - (y2l - n2l))
    return xv, xb, abs((xo - xv) * inv_tau_next - dgty)


@njit(inline="always", **JIT)
def _primal_row(vd, x, y1c, y2c, n1c, n2c, y1u, n1u, inv_a2, tau, inv_tau, inv_den,
                theta, inv_tau_next, xn, xbn):
    """New primal (xn, xbn) of one row from the new dual of this row and the row above.

    ``y1c, y2c`` old and ``n1c, n2c`` new dual of this row, ``y1u, n1u`` old and new
    first dual component of the row above (zeros above row 0). Returns the primal
    residual sum of the row. Column 0 is peeled off: left of it the dual is 0.
    """
    w = x.shape[0]
    zero = x.dtype.type(0)
    a, b, r = _primal_px(vd[0], x[0], y1c[0], n1c[0], y1u[0], n1u[0], y2c[0], n2c[0], zero,
                         zero, inv_a2, tau, inv_tau, inv_den, theta, inv_tau_next)
    xn[0] = a
    xbn[0] = b
    acc = r
    for j in range(1, w):
        a, b, r = _primal_px(vd[j], x[j], y1c[j], n1c[j], y1u[j], n1u[j], y2c[j], n2c[j],
                             y2c[j - 1], n2c[j - 1], inv_a2, tau, inv_tau, inv_den, theta,
                             inv_tau_next)
        xn[j] = a
        xbn[j] = b
        acc += r
    return acc


@njit(inline="always", **JIT)
def _primal_row_only(vd, x, n1c, n2c, n1u, inv_a2, tau, inv_tau, inv_den, theta, xn, xbn):
    """``_primal_row`` without the residual (and without reading the old dual)."""
    xn[0], xbn[0] = _primal_step(vd[0], x[0], -(n1c[0] - n1u[0]) - n2c[0], inv_a2, tau,
                                 inv_tau, inv_den, theta)
    for j in range(1, x.shape[0]):
        xn[j], xbn[j] = _primal_step(vd[j], x[j], -(n1c[j] - n1u[j]) - (n2c[j] - n2c[j - 1]),
                                     inv_a2, tau, inv_tau, inv_den, theta)


@njit(inline="always", **JIT)
def _row(vd, xc, xd, bc, bd, y1c, y2c, y1u, n1u, sigma, eta, c, tau, theta, n1c, n2c, xn,
         xbn, need):
    """One iteration at one row: the new dual (n1c, n2c) and primal (xn, xbn) from the
    primal rows here and below (xc, bc; xd, bd), the old dual here (y1c, y2c) and the
    old and new first dual component above (y1u, n1u), with ``c`` the iteration's
    ``_coefficients``. Returns the row's (dual, primal) residual sums, or (0, 0) without
    computing them where ``need`` is false: a loop of its own for each case.
    """
    if need:
        rd = _dual_rows(xc, xd, bc, bd, y1c, y2c, sigma, c[0], eta, c[5], n1c, n2c)
        rp = _primal_row(vd, xc, y1c, y2c, n1c, n2c, y1u, n1u, c[2], tau, c[3], c[1], theta,
                         c[4], xn, xbn)
        return rd, rp
    _dual_rows_only(bc, bd, y1c, y2c, sigma, c[0], eta, n1c, n2c)
    _primal_row_only(vd, xc, n1c, n2c, n1u, c[2], tau, c[3], c[1], theta, xn, xbn)
    return 0.0, 0.0


@njit(**JIT)
def _coefficients(x, a2, tau, sigma, tau_next, sigma_next, kappa):
    """The per-iteration constants of the primal-dual step, in the type of image x."""
    one = x.dtype.type(1)
    return (one / (one + sigma * kappa), one / (one / a2 + one / tau), one / a2, one / tau,
            one / tau_next, one / sigma_next)


@njit(
    both(lambda A, F: types.float64(
        A, A, A, A, A, A, A, A, A, A, A, row(F), F, F, F, F, F, F, F, F, INT, PARTIAL,
        types.float64)),
    parallel=True,
    **JIT,
)
def pd_iteration(vd, x, xb, y1, y2, xn, xbn, y1n, y2n, scratch1, scratch2, zero,
                 a2, tau, sigma, theta, tau_next, sigma_next, kappa, eta, block_rows,
                 partial, certain):
    """One primal-dual iteration from (x, xb, y1, y2) into (xn, xbn, y1n, y2n).

    ``scratch1, scratch2``: (number of row blocks, W) buffers for the dual of the row
    above each block; ``zero``: a zero row. Returns the residual (divided by N). A row
    block stops summing it once its own rows' sum reaches ``certain`` (inf: never): the
    result is then a lower bound of the residual, at least ``certain`` / N, which is all
    that a stopping rule with a smaller threshold needs to know.
    """
    h, w = x.shape
    c = _coefficients(x, a2, tau, sigma, tau_next, sigma_next, kappa)
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        if r0 > 0:  # the new dual of the row above the block
            _dual_row_above(xb[r0 - 1], xb[r0], y1[r0 - 1], y2[r0 - 1], sigma, c[0], eta,
                            scratch1[blk], scratch2[blk])
        acc = 0.0
        for i in range(r0, r1):
            if i == 0:
                y1u, n1u = zero, zero
            elif i == r0:
                y1u, n1u = y1[i - 1], scratch1[blk]
            else:
                y1u, n1u = y1[i - 1], y1n[i - 1]
            dn = min(i + 1, h - 1)
            partial[i, 0], partial[i, 1] = _row(
                vd[i], x[i], x[dn], xb[i], xb[dn], y1[i], y2[i], y1u, n1u, sigma, eta, c, tau,
                theta, y1n[i], y2n[i], xn[i], xbn[i], acc < certain)
            acc += partial[i, 0] + partial[i, 1]
    return (column_sum(partial, 0) + column_sum(partial, 1)) / (h * w)


@njit(**JIT)
def _final_row(i, h, blk, r0, vd, rg, y1n, y2n, xn, xbn, scratch1, scratch2, zero, sigma2,
               c2, eta, tau2, theta2, partial, need):
    """pd_pair's second iteration at image row i from the middle rows i - 1 .. i + 1."""
    s = i % 3
    d = min(i + 1, h - 1) % 3
    if i == 0:
        y1u, n1u = zero, zero
    else:
        u = (i - 1) % 3
        y1u = rg[6 + u]
        if i == r0:  # the final dual of the row above, owned by the block above
            _dual_row_above(rg[3 + u], rg[3 + s], rg[6 + u], rg[9 + u], sigma2, c2[0], eta,
                            scratch1[blk], scratch2[blk])
            n1u = scratch1[blk]
        else:
            n1u = y1n[i - 1]
    partial[i, 2], partial[i, 3] = _row(
        vd[i], rg[s], rg[d], rg[3 + s], rg[3 + d], rg[6 + s], rg[9 + s], y1u, n1u, sigma2,
        eta, c2, tau2, theta2, y1n[i], y2n[i], xn[i], xbn[i], need)


RING_ROWS = 12  # per row block: 3 rows each of x', xbar', y1', y2' (the middle iterate)


@njit(
    both(lambda A, F: types.UniTuple(types.float64, 2)(
        A, A, A, A, A, A, A, A, A, A, A, types.Array(F, 3, "C"), row(F),
        F, F, F, F, F, F, F, F, F, F, F, F, F, INT, PARTIAL, types.float64, types.float64)),
    parallel=True,
    **JIT,
)
def pd_pair(vd, x, xb, y1, y2, xn, xbn, y1n, y2n, scratch1, scratch2, ring, zero,
            a2, kappa, eta, tau, sigma, theta, tau_next, sigma_next,
            tau2, sigma2, theta2, tau_next2, sigma_next2, block_rows, partial,
            certain, certain2):
    """Two primal-dual iterations in one pass: (x, xb, y1, y2) -> (xn, xbn, y1n, y2n).

    The same arithmetic as two ``pd_iteration`` calls (the first with the step sizes
    ``tau .. sigma_next`` and ``certain``, the second with ``tau2 .. sigma_next2`` and
    ``certain2``), but the middle iterate never goes to memory: each row block keeps its
    rows in ``ring`` (number of blocks, RING_ROWS, W), three rows deep, and recomputes
    the rows just outside the block that it needs (without their residuals), so that
    one pass reads and writes the arrays once for two iterations. Returns the residuals
    of both iterations (divided by N; lower bounds past ``certain`` and ``certain2`` as in
    ``pd_iteration``); ``partial`` has 4 columns.
    """
    h, w = x.shape
    c1 = _coefficients(x, a2, tau, sigma, tau_next, sigma_next, kappa)
    c2 = _coefficients(x, a2, tau2, sigma2, tau_next2, sigma_next2, kappa)
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        rg = ring[blk]  # rows 0-2: x', 3-5: xbar', 6-8: y1', 9-11: y2'; image row j at j % 3
        j0 = max(r0 - 1, 0)
        j1 = min(r1, h - 1)
        acc = acc2 = 0.0  # the block's residual sums so far, of both iterations
        if j0 > 0:  # the middle dual of the row above the first middle row
            s = (j0 - 1) % 3
            _dual_row_above(xb[j0 - 1], xb[j0], y1[j0 - 1], y2[j0 - 1], sigma, c1[0], eta,
                            rg[6 + s], rg[9 + s])
        for j in range(j0, j1 + 1):
            # the middle iterate at row j; its residual counts on the block's own rows
            s = j % 3
            if j == 0:
                y1u, n1u = zero, zero
            else:
                y1u, n1u = y1[j - 1], rg[6 + (j - 1) % 3]
            dn = min(j + 1, h - 1)
            rd, rp = _row(vd[j], x[j], x[dn], xb[j], xb[dn], y1[j], y2[j], y1u, n1u, sigma,
                          eta, c1, tau, theta, rg[6 + s], rg[9 + s], rg[s], rg[3 + s],
                          r0 <= j < r1 and acc < certain)
            if r0 <= j < r1:
                partial[j, 0] = rd
                partial[j, 1] = rp
                acc += rd + rp
            # the final iterate at row i = j - 1 (and at the last image row once j is it)
            for i in range(j - 1, j + 1):
                if i < r0 or i >= r1 or (i == j and j < h - 1):
                    continue
                _final_row(i, h, blk, r0, vd, rg, y1n, y2n, xn, xbn, scratch1, scratch2,
                           zero, sigma2, c2, eta, tau2, theta2, partial, acc2 < certain2)
                acc2 += partial[i, 2] + partial[i, 3]
    return ((column_sum(partial, 0) + column_sum(partial, 1)) / (h * w),
            (column_sum(partial, 2) + column_sum(partial, 3)) / (h * w))


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


@njit(
    both(lambda A, F: types.UniTuple(INT, 3)(
        A, types.float64, types.float64, types.float64, types.float64, INT, INT,
        types.float64, types.boolean, A, A, A, A, A, A, A, A, A, A, types.Array(F, 3, "C"),
        row(F), INT, PARTIAL)),
    **JIT,
)
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
        grad(vd, y1a, y2a)
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
            res, res2 = pd_pair(vd, src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2],
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
        res = pd_iteration(vd, src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2],
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
