"""Multigrid for the u-block's linear system: a weighted 5-point operator.

On every level of the hierarchy the operator is

    (A x)_ij = d_ij x_ij - s (wy[i-1,j] x[i-1,j] + wy[i,j] x[i+1,j]
                              + wx[i,j-1] x[i,j-1] + wx[i,j] x[i,j+1]),
    d = c + s (the weights of the edges at the pixel),

a weighted graph Laplacian plus a non-negative diagonal c: the edge between (i, j) and
(i + 1, j) has weight ``s wy[i, j]``, the edge between (i, j) and (i, j + 1) weight
``s wx[i, j]``; neighbours outside the image do not exist (the last row of wy and the
last column of wx are never read). On the image, ``wy = wx = v``, ``s = osm`` and
``c = gamma alpha v^2``, so that ``A = osm D^T diag(v) D + gamma diag(alpha v^2)``.

Coarse levels are cell-centred: coarse cell (I, J) covers the fine cells 2I..2I+1 by
2J..2J+1 (``ceil(n / 2)`` cells a side; on an odd side the last coarse cell has one fine
row or column). Prolongation P is bilinear between cell centres: fine row 2I takes 3/4 of
coarse row I and 1/4 of row I - 1, fine row 2I + 1 3/4 of row I and 1/4 of row I + 1,
a neighbour outside the coarse grid replaced by row I itself (constant extrapolation,
consistent with the Neumann boundary); the same along columns. Restriction is exactly
P^T (full weighting), so that a V-cycle with red-black Gauss-Seidel before and
black-red after the coarse correction is a symmetric positive definite preconditioner.
The coarse operator is rediscretised, not Galerkin, so that it stays 5-point: a coarse
edge weighs half the sum of the fine edges that cross it (the conductance of two
parallel fine edges in series with two more), and ``c_coarse = P^T c``.
"""

from numba import njit, prange, types

from ._reduce import column_sum
from ._types import JIT, PARTIAL, kernel

Q1 = 0.25  # prolongation weights between cell centres, 1/4 and 3/4
Q3 = 0.75


@njit(**JIT)
def _rows(h, i, one):
    """The rows above and below row i (valid indices) and 0/1 factors (of one's type) for
    their edges: a missing neighbour's factor is 0, so the inner loops carry no branch."""
    up = max(i - 1, 0)
    dn = min(i + 1, h - 1)
    return up, dn, one if i > 0 else 0 * one, one if i < h - 1 else 0 * one


@njit(**JIT)
def _border_sum(x, wy, wx, i, up, dn, fu, fd, j, w):
    """All neighbours' weighted sum at (i, j), for the first and last column."""
    acc = fu * wy[up, j] * x[up, j] + fd * wy[i, j] * x[dn, j]
    if j > 0:
        acc += wx[i, j - 1] * x[i, j - 1]
    if j < w - 1:
        acc += wx[i, j] * x[i, j + 1]
    return acc


@njit(**JIT)
def _neighbour_row(x, wy, wx, i, out):
    """``out[j] = sum_{neighbours k of (i, j)} w_k x_k`` along row i (without s)."""
    h, w = x.shape
    up, dn, fu, fd = _rows(h, i, x.dtype.type(1))
    out[0] = _border_sum(x, wy, wx, i, up, dn, fu, fd, 0, w)
    for j in range(1, w - 1):
        out[j] = (fu * wy[up, j] * x[up, j] + fd * wy[i, j] * x[dn, j]
                  + wx[i, j - 1] * x[i, j - 1] + wx[i, j] * x[i, j + 1])
    if w > 1:
        out[w - 1] = _border_sum(x, wy, wx, i, up, dn, fu, fd, w - 1, w)


@njit(**JIT)
def _edge_sum(wy, wx, i, up, fu, fd, j, w):
    """The weights of the edges at (i, j), without s."""
    e = fu * wy[up, j] + fd * wy[i, j]
    if j > 0:
        e += wx[i, j - 1]
    if j < w - 1:
        e += wx[i, j]
    return e


@kernel(lambda A, F: types.void(A, A, F, A, A), parallel=True)
def stencil_diagonal(wy, wx, s, c, d):
    """``d = c + s (sum of the weights of the edges at each pixel)``."""
    h, w = c.shape
    for i in prange(h):
        up, _, fu, fd = _rows(h, i, c.dtype.type(1))
        for j in range(w):
            d[i, j] = c[i, j] + s * _edge_sum(wy, wx, i, up, fu, fd, j, w)


@kernel(lambda A, F: types.float64(A, A, A, F, A, A, PARTIAL), parallel=True)
def apply_dot(x, wy, wx, s, d, out, partial):
    """``out = A x``; return ``<x, A x>`` (float64, summed per row in a fixed order)."""
    h, w = x.shape
    for i in prange(h):
        o = out[i]
        _neighbour_row(x, wy, wx, i, o)
        acc = 0.0
        for j in range(w):
            y = d[i, j] * x[i, j] - s * o[j]
            o[j] = y
            acc += x[i, j] * y
        partial[i, 0] = acc
    return column_sum(partial, 0)


@kernel(lambda A, F: types.void(A, A, A, A, F, A, A), parallel=True)
def residual(b, x, wy, wx, s, d, out):
    """``out = b - A x``."""
    h, w = x.shape
    for i in prange(h):
        o = out[i]
        _neighbour_row(x, wy, wx, i, o)
        for j in range(w):
            o[j] = b[i, j] - d[i, j] * x[i, j] + s * o[j]


@njit(**JIT)
def _colour_row(x, b, wy, wx, s, d, i, color, zero, tmp):
    """Gauss-Seidel on the pixels of row i with ``(i + j) % 2 == color``:
    ``x = (b + s sum_k w_k x_k) / d``, their neighbours all of the other colour;
    ``zero``: as if x were 0 before (``x = b / d``, no neighbour read; the other colour's
    pixels of the row get 0, so that no uninitialised value is ever read, not even
    times the 0 factor of a missing neighbour).

    The update is computed for the whole row into ``tmp`` (contiguous loops that
    vectorise; for the pixels of this colour it is the Gauss-Seidel value, since their
    neighbours are all of the other colour) and then copied to this colour's pixels,
    faster than a stride-2 loop, which does not vectorise (bench/README.md).
    """
    w = x.shape[1]
    xi, bi, di = x[i], b[i], d[i]
    first = (i + color) % 2  # the first column of this colour
    if zero:
        for j in range(w):
            xi[j] = 0.0
        for j in range(first, w, 2):
            xi[j] = bi[j] / di[j]
        return
    _neighbour_row(x, wy, wx, i, tmp)
    for j in range(w):
        tmp[j] = (bi[j] + s * tmp[j]) / di[j]
    for j in range(first, w, 2):
        xi[j] = tmp[j]


@kernel(lambda A, F: types.void(A, A, A, A, F, A, types.int64, types.boolean,
                                   types.int64, A), parallel=True)
def sweep(x, b, wy, wx, s, d, color, zero, block_rows, scratch):
    """One symmetric-order Gauss-Seidel sweep in one pass: first the pixels of colour
    ``color`` (red: ``(i + j) % 2 == 0``), then those of the other colour, each with the
    first colour's new values; ``zero``: from x = 0 (x is then only written).

    Row blocks run in parallel, each as a wavefront: the first colour on row i, then
    the second colour on row i - 1, whose neighbours of the first colour are all new by
    then. The second colour on a block's first and last rows needs the first colour of
    the neighbouring blocks' rows, so it waits for a second pass of two rows per block.
    Every pixel sees exactly the values of two plain half-sweeps: the result does not
    depend on the blocks or the thread count. ``scratch`` has a row per block.
    """
    h = x.shape[0]
    other = 1 - color
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        tmp = scratch[blk]
        _colour_row(x, b, wy, wx, s, d, r0, color, zero, tmp)
        for i in range(r0 + 1, r1):
            _colour_row(x, b, wy, wx, s, d, i, color, zero, tmp)
            if i - 1 > r0:
                _colour_row(x, b, wy, wx, s, d, i - 1, other, False, tmp)
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        tmp = scratch[blk]
        _colour_row(x, b, wy, wx, s, d, r0, other, False, tmp)
        if r1 - 1 > r0:
            _colour_row(x, b, wy, wx, s, d, r1 - 1, other, False, tmp)


@njit(**JIT)
def _parents(k, m):
    """Fine index k -> (the coarse index it lies in, its neighbour on the near side)."""
    big = k // 2
    near = big - 1 if k % 2 == 0 else big + 1
    return big, min(max(near, 0), m - 1)


@kernel(lambda A, F: types.void(A, A), parallel=True)
def prolong_add(coarse, fine):
    """``fine += P coarse`` (bilinear between cell centres)."""
    h, w = fine.shape
    m, n = coarse.shape
    q1 = fine.dtype.type(Q1)
    q3 = fine.dtype.type(Q3)
    for i in prange(h):
        a, b = _parents(i, m)
        ca, cb, fi = coarse[a], coarse[b], fine[i]
        for j in range(w):
            c0, c1 = _parents(j, n)
            fi[j] += q3 * (q3 * ca[c0] + q1 * cb[c0]) + q1 * (q3 * ca[c1] + q1 * cb[c1])


@njit(**JIT)
def _weights(ci, m, n):
    """The fine indices 2ci - 1 .. 2ci + 2 (clamped into range) and P[k, ci] for each."""
    k0, k1, k2, k3 = 2 * ci - 1, 2 * ci, 2 * ci + 1, 2 * ci + 2
    return (max(k0, 0), k1, min(k2, n - 1), min(k3, n - 1),
            _weight(k0, ci, m, n), _weight(k1, ci, m, n), _weight(k2, ci, m, n),
            _weight(k3, ci, m, n))


@njit(**JIT)
def _weight(k, big, m, n):
    """P[k, big] along one axis (fine size n, coarse size m), 0 if k is out of range."""
    if k < 0 or k >= n:
        return 0.0
    a, b = _parents(k, m)
    return (Q3 if a == big else 0.0) + (Q1 if b == big else 0.0)


@kernel(lambda A, F: types.void(A, A), parallel=True)
def restrict(fine, coarse):
    """``coarse = P^T fine`` (full weighting): each coarse cell gathers a 4 x 4 patch."""
    h, w = fine.shape
    m, n = coarse.shape
    ft = fine.dtype.type
    for ci in prange(m):
        r0, r1, r2, r3, p0, p1, p2, p3 = _weights(ci, m, h)
        p0, p1, p2, p3 = ft(p0), ft(p1), ft(p2), ft(p3)
        f0, f1, f2, f3 = fine[r0], fine[r1], fine[r2], fine[r3]
        co = coarse[ci]
        for cj in range(n):
            j0, j1, j2, j3, q0, q1, q2, q3 = _weights(cj, n, w)
            acc = ft(0)
            for j, q in ((j0, q0), (j1, q1), (j2, q2), (j3, q3)):
                acc += ft(q) * (p0 * f0[j] + p1 * f1[j] + p2 * f2[j] + p3 * f3[j])
            co[cj] = acc


@kernel(lambda A, F: types.void(A, A, F, A, A), parallel=True)
def coarsen_edges(wy, wx, s, cwy, cwx):
    """Coarse edge weights: half the sum of the fine edges (times s) that cross them."""
    h, w = wy.shape
    m, n = cwy.shape
    half = wy.dtype.type(0.5) * s
    for ci in prange(m):
        k = 2 * ci + 1  # the fine edge row between coarse rows ci and ci + 1
        for cj in range(n):
            j = 2 * cj
            acc = wy[k, j] if k < h - 1 else 0.0
            if k < h - 1 and j + 1 < w:
                acc += wy[k, j + 1]
            cwy[ci, cj] = half * acc
            jj = 2 * cj + 1  # the fine edge column between coarse columns cj and cj + 1
            acc = wx[2 * ci, jj] if jj < w - 1 else 0.0
            if jj < w - 1 and 2 * ci + 1 < h:
                acc += wx[2 * ci + 1, jj]
            cwx[ci, cj] = half * acc


@kernel(lambda A, F: types.void(A, A, A, A, F, F, A, A, A, A), parallel=True)
def u_system(u, v, alpha, f, osm, gamma, x, c, b, d):
    """The u-block's system at the image level: ``x = u / v`` (the start),
    ``c = gamma alpha v^2``, ``b = gamma alpha v f`` and the diagonal d of A."""
    h, w = u.shape
    for i in prange(h):
        up, _, fu, fd = _rows(h, i, u.dtype.type(1))
        for j in range(w):
            vij = v[i, j]
            ga = gamma * alpha[i, j] * vij
            x[i, j] = u[i, j] / vij
            c[i, j] = ga * vij
            b[i, j] = ga * f[i, j]
            d[i, j] = ga * vij + osm * _edge_sum(v, v, i, up, fu, fd, j, w)


@kernel(lambda A, F: types.float64(A, A, A, A, A, F, PARTIAL), parallel=True)
def cg_update(x, res, p, q, v, step, partial):
    """``x += step p``, ``res -= step q``; return ``||res / v||^2``, the squared norm of
    dE/du at u = v x (the residual is minus the gradient of E in r = u / v)."""
    h, w = x.shape
    for i in prange(h):
        acc = 0.0
        for j in range(w):
            x[i, j] += step * p[i, j]
            r = res[i, j] - step * q[i, j]
            res[i, j] = r
            g = r / v[i, j]
            acc += g * g
        partial[i, 0] = acc
    return column_sum(partial, 0)


@kernel(lambda A, F: types.float64(A, A, PARTIAL), parallel=True)
def ratio_norm(res, v, partial):
    """``||res / v||^2`` (float64)."""
    h, w = res.shape
    for i in prange(h):
        acc = 0.0
        for j in range(w):
            g = res[i, j] / v[i, j]
            acc += g * g
        partial[i, 0] = acc
    return column_sum(partial, 0)


@kernel(lambda A, F: types.float64(A, A, PARTIAL), parallel=True)
def dot(x, y, partial):
    """``<x, y>`` (float64, summed per row in a fixed order)."""
    h, w = x.shape
    for i in prange(h):
        acc = 0.0
        for j in range(w):
            acc += x[i, j] * y[i, j]
        partial[i, 0] = acc
    return column_sum(partial, 0)


@kernel(lambda A, F: types.void(A, A, F), parallel=True)
def cg_direction(p, z, beta):
    """``p = z + beta p``."""
    h, w = p.shape
    for i in prange(h):
        for j in range(w):
            p[i, j] = z[i, j] + beta * p[i, j]


@kernel(lambda A, F: types.void(A, A, A), parallel=True)
def multiply(x, v, out):
    """``out = x v`` (u from the ratio r)."""
    h, w = x.shape
    for i in prange(h):
        for j in range(w):
            out[i, j] = x[i, j] * v[i, j]
