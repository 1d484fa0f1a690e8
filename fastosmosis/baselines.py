"""Baseline fusion methods the paper compares against (its Section II and Table I).

Convention, as in :func:`fastosmosis.fuse`: ``alpha = 1`` where the result should come
from the foreground ``f``, ``alpha = 0`` where it should come from the background ``b``.

- :func:`direct_matting`: ``alpha f + (1 - alpha) b``.
- :func:`poisson`: Poisson image editing (Perez, Gangnet, Blake 2003), seamless or mixed
  cloning of ``b``'s region ``{alpha < threshold}`` into ``f``.
- :func:`linear_osmosis`: the steady state of the classic linear osmosis filter (Weickert,
  Hagenburg, Breuss, Vogel 2013) with the drift of ``f`` and ``b`` glued along alpha.
- :func:`guided_fusion`: guided-filter fusion (Li, Kang, Hu 2013), in
  :mod:`fastosmosis._guided_fusion`.
- :func:`structure_aware`: structure-aware fusion (Li, Xie, Zhou, Han, Zhan 2018), in
  :mod:`fastosmosis._structure_fusion`.
- :func:`spectral_fusion`: nonlinear spectral fusion by the TV spectral decomposition
  (Benning et al. 2017), in :mod:`fastosmosis._spectral_fusion`.

The last three are fusion methods of two whole images; each says how alpha enters.

Both linear problems are solved with a sparse direct factorisation (SuperLU through
``scipy.sparse.linalg.splu``), not with an iterative solver, because at the sizes the
paper works at it is both fast and exact (bench/README.md has the timings). Beyond a
few million unknowns the memory of the factors grows too large and an iterative solver
(conjugate gradients for Poisson) would be the better choice; none is provided yet.
Every solve is checked against the relative residual ``1e-10`` and refined iteratively
(one more triangular solve each time) if it misses it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._baseline_inputs import check_inputs
from ._guided_fusion import guided_fusion
from ._spectral_fusion import spectral_fusion, tv_spectral
from ._structure_fusion import structure_aware

__all__ = ["direct_matting", "poisson", "linear_osmosis", "guided_fusion", "structure_aware",
           "spectral_fusion", "tv_spectral"]

_RTOL = 1e-10  # relative residual every linear solve must reach
_REFINE = 5  # at most this many steps of iterative refinement
_ALPHA_ONE = 1.0 - 1e-6  # alpha at or above this counts as "from f" for the drift
_ALPHA_ZERO = 1e-6  # alpha at or below this counts as "from b"


# ---------------------------------------------------------------------------
# shared sparse helpers


def _edges(shape):
    """Flat indices (p, q) of every pair of 4-neighbours, p above or left of q."""
    H, W = shape
    k = np.arange(H * W).reshape(H, W)
    p = np.concatenate([k[:-1, :].ravel(), k[:, :-1].ravel()])
    q = np.concatenate([k[1:, :].ravel(), k[:, 1:].ravel()])
    return p, q


def _factorise(A):
    """SuperLU factors of A. The matrices here are diagonally dominant by rows (Poisson,
    symmetric) or by columns (osmosis), so elimination on the diagonal, with a fill-
    reducing ordering of A + A^T, is stable and about twice as fast as COLAMD."""
    return spla.splu(A.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                     options={"SymmetricMode": True})


def _solve(A, lu, rhs):
    """Solve A x = rhs with the factors lu to relative residual _RTOL."""
    x = lu.solve(rhs)
    target = _RTOL * np.linalg.norm(rhs)
    for _ in range(_REFINE):
        r = rhs - A @ x
        if np.linalg.norm(r) <= target:
            return x
        x += lu.solve(r)
    residual = np.linalg.norm(rhs - A @ x)
    if residual > target:  # pragma: no cover - numerically hopeless input
        raise RuntimeError(f"sparse solve reached relative residual "
                           f"{residual / np.linalg.norm(rhs):.2e}, not {_RTOL:.0e}")
    return x


# ---------------------------------------------------------------------------
# direct matting


def direct_matting(foreground, background, alpha):
    """Alpha blending ``u = alpha f + (1 - alpha) b``.

    Parameters
    ----------
    foreground, background : array_like, H x W or H x W x C
        f and b (the names of ``fuse``); uint8 / uint16 are scaled to [0, 1], floats taken as
        given (non-negative, finite).
    alpha : array_like, H x W or H x W x C
        Weight of ``f`` in [0, 1]; an H x W alpha applies to every channel.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``f``.
    """
    f, b, alpha, back = check_inputs(foreground, background, alpha)
    return back(alpha * f + (1.0 - alpha) * b)


# ---------------------------------------------------------------------------
# Poisson image editing


def _poisson_system(region):
    """Matrix of the Poisson equations on ``region`` (H x W bool): for each p in R,
    ``n_p u_p - sum_{q in R, q ~ p} u_q``, with n_p the number of p's neighbours inside
    the image. Returns the CSC matrix and the flat indices of R's pixels."""
    shape = region.shape
    r = region.ravel()
    inside = np.flatnonzero(r)
    n = inside.size
    index = np.full(r.size, -1, dtype=np.int64)
    index[inside] = np.arange(n)
    p, q = _edges(shape)
    degree = np.bincount(p, minlength=r.size) + np.bincount(q, minlength=r.size)
    both = r[p] & r[q]
    ip, iq = index[p[both]], index[q[both]]
    rows = np.concatenate([np.arange(n), ip, iq])
    cols = np.concatenate([np.arange(n), iq, ip])
    vals = np.concatenate([degree[inside].astype(np.float64), -np.ones(2 * ip.size)])
    A = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
    return A, inside


def _poisson_rhs(f, b, region, inside, mixed):
    """Right-hand side ``sum_q g_pq + sum_{q not in R} f_q`` for p in R, one channel."""
    fr, br, r = f.ravel(), b.ravel(), region.ravel()
    p, q = _edges(f.shape)
    g = br[p] - br[q]  # guidance on the edge, seen from p (its negative seen from q)
    if mixed:
        gf = fr[p] - fr[q]
        g = np.where(np.abs(gf) > np.abs(g), gf, g)
    # each edge enters p's equation with +g and q's with -g; a neighbour outside R is
    # known (= f) and moves to the right-hand side
    rhs = (np.bincount(p, weights=g + np.where(r[q], 0.0, fr[q]), minlength=r.size)
           + np.bincount(q, weights=-g + np.where(r[p], 0.0, fr[p]), minlength=r.size))
    return rhs[inside]


def poisson(foreground, background, alpha, *, threshold=0.5, mixed=False):
    """Poisson image editing: clone ``b``'s region ``R = {alpha < threshold}`` into ``f``.

    Seamless cloning (Perez et al. 2003; the paper's Section II with its f and b swapped):
    inside R the gradient of u follows the gradient of b, outside R ``u = f``, which gives
    the boundary values. Discretely, for every pixel p in R and its 4-neighbours q inside
    the image::

        sum_q (u_p - u_q) = sum_q g_pq,    g_pq = b_p - b_q,    u_q = f_q for q not in R,

    and with ``mixed=True`` (mixed cloning) ``g_pq = f_p - f_q`` wherever
    ``|f_p - f_q| > |b_p - b_q|``. A pixel of R on the image border simply has fewer
    neighbours q (no flux across the border).

    Each channel is a sparse symmetric positive definite system, solved by a SuperLU
    factorisation made once per distinct region and reused for every channel with the
    same region (see the module docstring for why a direct solve), to relative residual
    1e-10.

    Parameters
    ----------
    foreground, background, alpha : array_like
        As in :func:`direct_matting`. With an H x W x C alpha, each channel has its own
        region.
    threshold : float
        R is where ``alpha < threshold``.
    mixed : bool
        Mixed cloning: keep the larger of the two gradients on each edge.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``f``; equal to ``f`` outside R.

    Raises
    ------
    ValueError
        On bad input, or if R covers a whole channel (nothing outside R fixes u).
    """
    f, b, alpha, back = check_inputs(foreground, background, alpha)
    u = f.copy()
    factors = []  # (region, A, lu, inside): one factorisation per distinct region
    for c in range(f.shape[2]):
        region = alpha[..., c] < threshold
        if not region.any():
            continue
        if region.all():
            raise ValueError("alpha: the region alpha < threshold covers the whole image, "
                             "so no pixel of f gives boundary values")
        for known in factors:
            if np.array_equal(known[0], region):
                _, A, lu, inside = known
                break
        else:
            A, inside = _poisson_system(region)
            lu = _factorise(A)
            factors.append((region, A, lu, inside))
        rhs = _poisson_rhs(f[..., c], b[..., c], region, inside, mixed)
        uc = f[..., c].flatten()
        uc[inside] = _solve(A, lu, rhs)
        u[..., c] = uc.reshape(region.shape)
    return back(u)


# ---------------------------------------------------------------------------
# linear osmosis


def _half_grid_drift(v, p, q):
    """Drift on the edges (p, q) of the positive image v (docs/model.md section 6 item 1):
    ``d = 2 (v_q - v_p) / (v_q + v_p)``, the discrete grad log v."""
    vp, vq = v[p], v[q]
    return 2.0 * (vq - vp) / (vq + vp)


def _osmosis_matrix(d, p, q, n):
    """Matrix A of ``A u = -(Lap u - div(d u))`` with zero flux across the border:
    the flux on edge (p, q) is ``(u_q - u_p) - d (u_p + u_q) / 2``. Columns sum to 0
    (mass is conserved) and off-diagonals are negative when ``|d| < 2``."""
    rows = np.concatenate([p, p, q, q])
    cols = np.concatenate([p, q, q, p])
    vals = np.concatenate([1.0 + d / 2, -1.0 + d / 2, 1.0 - d / 2, -1.0 - d / 2])
    return sp.csc_matrix((vals, (rows, cols)), shape=(n, n))


def _osmosis_steady_state(A, mass):
    """The u with ``A u = 0`` and ``mean(u) = mass``: pin the first pixel to 1, drop its
    (redundant: the rows of A add up to 0) equation, solve the rest, rescale."""
    n = A.shape[0]
    u = np.ones(n)
    if n > 1:
        A = A.tocsc()
        rest = A[1:, 1:]
        rhs = -A[1:, 0].toarray().ravel()
        u[1:] = _solve(rest, _factorise(rest), rhs)
    return u * (mass / u.mean())


def linear_osmosis(foreground, background, alpha, *, offset=1.0):
    """Steady state of the classic linear osmosis filter with a glued drift.

    Solves ``0 = Lap u - div(d u)`` (the paper's eq. (2) with W = I, zero flux across the
    border) per channel, with the half-grid drift of docs/model.md section 6 item 1 computed
    from ``f + offset`` and from ``b + offset``. Each edge takes f's drift where both its
    pixels have ``alpha >= 1 - 1e-6``, b's where both have ``alpha <= 1e-6``, and the
    average of the two otherwise. Osmosis preserves the mass, which is set to that of
    the blend: ``mean(u) = mean(alpha (f + offset) + (1 - alpha)(b + offset))``; the
    returned image has the offset removed. When all edges take the drift of one image v
    the result is ``v * mass / mean(v)``, exactly.

    The steady state is found directly, not by running the evolution: one pixel is
    pinned, the remaining (non-symmetric, column diagonally dominant) sparse system is
    factorised with SuperLU and solved to relative residual 1e-10, and the result is
    rescaled to the mass. About 1-2 s per channel at 600 x 460.

    Parameters
    ----------
    foreground, background, alpha : array_like
        As in :func:`direct_matting`.
    offset : float
        Added to f and b to make them positive, as in ``fuse``; must be > 0.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``f``.
    """
    f, b, alpha, back = check_inputs(foreground, background, alpha)
    if not (np.isfinite(offset) and offset > 0):
        raise ValueError(f"offset: must be a positive number, got {offset!r}")
    H, W, C = f.shape
    p, q = _edges((H, W))
    u = np.empty_like(f)
    for c in range(C):
        fc, bc, ac = f[..., c].ravel() + offset, b[..., c].ravel() + offset, alpha[..., c].ravel()
        from_f = (ac[p] >= _ALPHA_ONE) & (ac[q] >= _ALPHA_ONE)
        from_b = (ac[p] <= _ALPHA_ZERO) & (ac[q] <= _ALPHA_ZERO)
        df, db = _half_grid_drift(fc, p, q), _half_grid_drift(bc, p, q)
        d = np.where(from_f, df, np.where(from_b, db, 0.5 * (df + db)))
        mass = np.mean(ac * fc + (1.0 - ac) * bc)
        uc = _osmosis_steady_state(_osmosis_matrix(d, p, q, H * W), mass)
        u[..., c] = uc.reshape(H, W) - offset
    return back(u)
