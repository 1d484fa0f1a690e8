"""The primal-dual iterations of the Huber-TV prox (docs/model.md 5.1, eq. 14-15); the
loop around them is ``prox.huber_prox``.

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
inlined into the parallel passes (``inline="always"``) and take each row as an (array,
row index) pair: called once per row, or set up with a view per row and array, they
cost more, and not inlined at all the prox runs about half as fast, at the price of a
longer first compilation (bench/README.md, "Issue 14").
"""

import math

import numpy as np
from numba import njit, prange, types

from ._reduce import column_sum
from ._types import INT, JIT, PARTIAL, kernel, row


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
def _dual_rows(X, ixc, ixd, B, ibc, ibd, Y1, iy1, Y2, iy2, sigma, inv_den, eta,
               inv_sigma_next, O1, io1, O2, io2):
    """New dual of one row into (O1[io1], O2[io2]) from the primal rows here (X[ixc],
    B[ibc]) and below (X[ixd], B[ibd]; the same rows on the last image row) and the old
    dual (Y1[iy1], Y2[iy2]); return its residual sum.

    Every row is an (array, row index) pair, not a row view: the set-up of a dozen views
    per row cost 3-15% of a pass at 256 columns (more on narrower images). No loop may
    read and write rows of the same array: the vectoriser cannot tell them apart.
    """
    w = X.shape[1]
    one = X.dtype.type(1)
    acc = X.dtype.type(0)  # in the image's type: a float64 sum halves float32's vectors
    for j in range(w - 1):
        n1, n2, r = _dual_px(Y1[iy1, j], Y2[iy2, j], B[ibd, j] - B[ibc, j],
                             B[ibc, j + 1] - B[ibc, j], X[ixd, j] - X[ixc, j],
                             X[ixc, j + 1] - X[ixc, j], sigma, inv_den, eta, one,
                             inv_sigma_next)
        O1[io1, j] = n1
        O2[io2, j] = n2
        acc += r
    k = w - 1  # the last column: no difference along j
    n1, n2, r = _dual_px(Y1[iy1, k], Y2[iy2, k], B[ibd, k] - B[ibc, k],
                         B[ibc, k] - B[ibc, k], X[ixd, k] - X[ixc, k], X[ixc, k] - X[ixc, k],
                         sigma, inv_den, eta, one, inv_sigma_next)
    O1[io1, k] = n1
    O2[io2, k] = n2
    return acc + r


@njit(inline="always", **JIT)
def _dual_rows_only(B, ibc, ibd, Y1, iy1, Y2, iy2, sigma, inv_den, eta, O1, io1, O2, io2):
    """``_dual_rows`` without the residual (and without reading x)."""
    w = B.shape[1]
    one = B.dtype.type(1)
    for j in range(w - 1):
        O1[io1, j], O2[io2, j] = _dual_proj(Y1[iy1, j], Y2[iy2, j], B[ibd, j] - B[ibc, j],
                                            B[ibc, j + 1] - B[ibc, j], sigma, inv_den, eta,
                                            one)
    k = w - 1
    O1[io1, k], O2[io2, k] = _dual_proj(Y1[iy1, k], Y2[iy2, k], B[ibd, k] - B[ibc, k],
                                        B[ibc, k] - B[ibc, k], sigma, inv_den, eta, one)


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
def _primal_row(VD, iv, X, ixc, Y1, iy1, Y2, iy2, N1, in1, N2, in2, Y1U, iy1u, N1U, in1u,
                inv_a2, tau, inv_tau, inv_den, theta, inv_tau_next, XN, ixn, XBN, ixbn):
    """New primal (XN[ixn], XBN[ixbn]) of one row from the new dual of this row and the
    row above; rows as (array, row index) pairs as in ``_dual_rows``.

    ``Y1[iy1], Y2[iy2]`` old and ``N1[in1], N2[in2]`` new dual of this row,
    ``Y1U[iy1u], N1U[in1u]`` old and new first dual component of the row above (zeros
    above row 0).
    Returns the primal residual sum of the row. Column 0 is peeled off: left of it the
    dual is 0.
    """
    w = X.shape[1]
    zero = X.dtype.type(0)
    a, b, r = _primal_px(VD[iv, 0], X[ixc, 0], Y1[iy1, 0], N1[in1, 0], Y1U[iy1u, 0],
                         N1U[in1u, 0], Y2[iy2, 0], N2[in2, 0], zero, zero, inv_a2, tau,
                         inv_tau, inv_den, theta, inv_tau_next)
    XN[ixn, 0] = a
    XBN[ixbn, 0] = b
    acc = r
    for j in range(1, w):
        a, b, r = _primal_px(VD[iv, j], X[ixc, j], Y1[iy1, j], N1[in1, j], Y1U[iy1u, j],
                             N1U[in1u, j], Y2[iy2, j], N2[in2, j], Y2[iy2, j - 1],
                             N2[in2, j - 1], inv_a2, tau, inv_tau, inv_den, theta,
                             inv_tau_next)
        XN[ixn, j] = a
        XBN[ixbn, j] = b
        acc += r
    return acc


@njit(inline="always", **JIT)
def _primal_row_only(VD, iv, X, ixc, N1, in1, N2, in2, N1U, in1u, inv_a2, tau, inv_tau,
                     inv_den, theta, XN, ixn, XBN, ixbn):
    """``_primal_row`` without the residual (and without reading the old dual)."""
    XN[ixn, 0], XBN[ixbn, 0] = _primal_step(VD[iv, 0], X[ixc, 0],
                                            -(N1[in1, 0] - N1U[in1u, 0]) - N2[in2, 0],
                                            inv_a2, tau, inv_tau, inv_den, theta)
    for j in range(1, X.shape[1]):
        XN[ixn, j], XBN[ixbn, j] = _primal_step(
            VD[iv, j], X[ixc, j],
            -(N1[in1, j] - N1U[in1u, j]) - (N2[in2, j] - N2[in2, j - 1]),
            inv_a2, tau, inv_tau, inv_den, theta)


@njit(inline="always", **JIT)
def _row(VD, iv, here, dual, out, steps, c, need):
    """One iteration at one row, every row an (array, row index) pair: from the primal
    rows ``here`` = (X, ixc, ixd, B, ibc, ibd) (x and xbar, here and below) and the dual
    rows ``dual`` = (Y1, iy1, Y2, iy2, Y1U, iy1u, N1U, in1u) (the old dual here, the old
    and new first dual component above), the new dual and primal into ``out`` = (N1,
    in1, N2, in2, XN, ixn, XBN, ixbn); ``steps`` = (sigma, eta, tau, theta) and ``c`` the
    iteration's ``_coefficients``. Returns the row's (dual, primal) residual sums, or
    (0, 0) without computing them where ``need`` is false: a loop of its own for each
    case. (Grouped in tuples for the reader; inlined, they cost nothing.)
    """
    X, ixc, ixd, B, ibc, ibd = here
    Y1, iy1, Y2, iy2, Y1U, iy1u, N1U, in1u = dual
    N1, in1, N2, in2, XN, ixn, XBN, ixbn = out
    sigma, eta, tau, theta = steps
    dual_den, primal_den, inv_a2, inv_tau, inv_tau_next, inv_sigma_next = c
    if need:
        rd = _dual_rows(X, ixc, ixd, B, ibc, ibd, Y1, iy1, Y2, iy2, sigma, dual_den, eta,
                        inv_sigma_next, N1, in1, N2, in2)
        rp = _primal_row(VD, iv, X, ixc, Y1, iy1, Y2, iy2, N1, in1, N2, in2, Y1U, iy1u, N1U,
                         in1u, inv_a2, tau, inv_tau, primal_den, theta, inv_tau_next,
                         XN, ixn, XBN, ixbn)
        return rd, rp
    _dual_rows_only(B, ibc, ibd, Y1, iy1, Y2, iy2, sigma, dual_den, eta, N1, in1, N2, in2)
    _primal_row_only(VD, iv, X, ixc, N1, in1, N2, in2, N1U, in1u, inv_a2, tau, inv_tau,
                     primal_den, theta, XN, ixn, XBN, ixbn)
    return 0.0, 0.0


@njit(**JIT)
def _coefficients(x, a2, tau, sigma, tau_next, sigma_next, kappa):
    """The per-iteration constants of the primal-dual step, in the type of image x:
    (dual_den, primal_den, inv_a2, inv_tau, inv_tau_next, inv_sigma_next) =
    (1 / (1 + sigma kappa), 1 / (1 / a2 + 1 / tau), 1 / a2, 1 / tau, 1 / tau_next,
    1 / sigma_next). A plain tuple: a named tuple does not pass Numba's parfor lowering."""
    one = x.dtype.type(1)
    return (one / (one + sigma * kappa), one / (one / a2 + one / tau), one / a2, one / tau,
            one / tau_next, one / sigma_next)


@njit(**JIT)
def _dual_den(c):
    """The dual step's denominator of :func:`_coefficients`' tuple."""
    return c[0]


@kernel(lambda A, F: types.float64(
        A, A, A, A, A, A, A, A, A, A, A, row(F), F, F, F, F, F, F, F, F, INT, PARTIAL,
        types.float64), parallel=True)
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
    z = zero.reshape((1, w))
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        if r0 > 0:  # the new dual of the row above the block
            _dual_rows_only(xb, r0 - 1, r0, y1, r0 - 1, y2, r0 - 1, sigma, _dual_den(c), eta,
                            scratch1, blk, scratch2, blk)
        acc = 0.0
        for i in range(r0, r1):
            # the old and new first dual component of the row above
            if i == 0:
                y1a, ia, n1a, na = z, 0, z, 0
            elif i == r0:  # prange's blk is unsigned: beside signed indices, a float
                y1a, ia, n1a, na = y1, i - 1, scratch1, np.int64(blk)
            else:
                y1a, ia, n1a, na = y1, i - 1, y1n, i - 1
            dn = min(i + 1, h - 1)
            partial[i, 0], partial[i, 1] = _row(
                vd, i, (x, i, dn, xb, i, dn), (y1, i, y2, i, y1a, ia, n1a, na),
                (y1n, i, y2n, i, xn, i, xbn, i), (sigma, eta, tau, theta), c,
                acc < certain)
            acc += partial[i, 0] + partial[i, 1]
    return (column_sum(partial, 0) + column_sum(partial, 1)) / (h * w)


@njit(inline="always", **JIT)
def _final_row(i, h, blk, r0, vd, rx, rxb, ry1, ry2, y1n, y2n, xn, xbn, scratch1, scratch2,
               z, sigma2, c2, eta, tau2, theta2, partial, need):
    """pd_pair's second iteration at image row i from the middle rows i - 1 .. i + 1
    (in the block's ring ``rx, rxb, ry1, ry2``; ``z`` a zero row as a 1 x W array).
    ``blk`` is prange's unsigned index: as a row index beside signed ones it would
    make the index a float."""
    s = i % 3
    d = min(i + 1, h - 1) % 3
    if i == 0:
        y1a, ia, n1a, na = z, 0, z, 0
    else:
        u = (i - 1) % 3
        if i == r0:  # the final dual of the row above, owned by the block above
            _dual_rows_only(rxb, u, s, ry1, u, ry2, u, sigma2, _dual_den(c2), eta,
                            scratch1, blk, scratch2, blk)
            y1a, ia, n1a, na = ry1, u, scratch1, np.int64(blk)
        else:
            y1a, ia, n1a, na = ry1, u, y1n, i - 1
    partial[i, 2], partial[i, 3] = _row(
        vd, i, (rx, s, d, rxb, s, d), (ry1, s, ry2, s, y1a, ia, n1a, na),
        (y1n, i, y2n, i, xn, i, xbn, i), (sigma2, eta, tau2, theta2), c2, need)


RING_ROWS = 12  # per row block: 3 rows each of x', xbar', y1', y2' (the middle iterate)


@kernel(lambda A, F: types.UniTuple(types.float64, 2)(
        A, A, A, A, A, A, A, A, A, A, A, types.Array(F, 3, "C"), row(F),
        F, F, F, F, F, F, F, F, F, F, F, F, F, INT, PARTIAL, types.float64, types.float64),
        parallel=True)
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
    of kernel iterations (divided by N; lower bounds past ``certain`` and ``certain2`` as in
    ``pd_iteration``); ``partial`` has 4 columns.
    """
    h, w = x.shape
    c1 = _coefficients(x, a2, tau, sigma, tau_next, sigma_next, kappa)
    c2 = _coefficients(x, a2, tau2, sigma2, tau_next2, sigma_next2, kappa)
    z = zero.reshape((1, w))
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        # the block's ring: x', xbar', y1', y2' at rows 0-2, 3-5, 6-8, 9-11, image row j
        # at j % 3; four views, so that no loop reads and writes the same array
        rx, rxb, ry1, ry2 = ring[blk, 0:3], ring[blk, 3:6], ring[blk, 6:9], ring[blk, 9:12]
        j0 = max(r0 - 1, 0)
        j1 = min(r1, h - 1)
        acc = acc2 = 0.0  # the block's residual sums so far, of kernel iterations
        if j0 > 0:  # the middle dual of the row above the first middle row
            s = (j0 - 1) % 3
            _dual_rows_only(xb, j0 - 1, j0, y1, j0 - 1, y2, j0 - 1, sigma, _dual_den(c1), eta,
                            ry1, s, ry2, s)
        for j in range(j0, j1 + 1):
            # the middle iterate at row j; its residual counts on the block's own rows
            s = j % 3
            if j == 0:
                y1a, ia, n1a, na = z, 0, z, 0
            else:
                y1a, ia, n1a, na = y1, j - 1, ry1, (j - 1) % 3
            dn = min(j + 1, h - 1)
            rd, rp = _row(vd, j, (x, j, dn, xb, j, dn), (y1, j, y2, j, y1a, ia, n1a, na),
                          (ry1, s, ry2, s, rx, s, rxb, s), (sigma, eta, tau, theta), c1,
                          r0 <= j < r1 and acc < certain)
            if r0 <= j < r1:
                partial[j, 0] = rd
                partial[j, 1] = rp
                acc += rd + rp
            # the final iterate at row i = j - 1 (and at the last image row once j is it)
            for i in range(j - 1, j + 1):
                if i < r0 or i >= r1 or (i == j and j < h - 1):
                    continue
                _final_row(i, h, blk, r0, vd, rx, rxb, ry1, ry2, y1n, y2n, xn, xbn, scratch1,
                           scratch2, z, sigma2, c2, eta, tau2, theta2, partial, acc2 < certain2)
                acc2 += partial[i, 2] + partial[i, 3]
    return ((column_sum(partial, 0) + column_sum(partial, 1)) / (h * w),
            (column_sum(partial, 2) + column_sum(partial, 3)) / (h * w))
