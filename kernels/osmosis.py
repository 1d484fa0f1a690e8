"""The smooth part S of the energy and its exact gradients (MODEL.md 3-4).

    S(u, v) = sum (osm/2) v |grad r|^2 + (mu/2) (v - w)^2,      r = u / v
    q       = grad^T(v grad r)      (v taken at the pixel where the difference is anchored)
    dS/du   = osm q / v
    dS/dv   = osm (|grad r|^2 / 2 - r q / v) + mu (v - w)

Borders: the row below the last row and the column right of the last column are clamped
to the pixel itself, which makes the forward difference 0 there (Neumann); the row above
row 0 and the column left of column 0 are clamped likewise, which makes the incoming flux
``v (r_c - r_up)`` 0 there, exactly the zero row of ``grad^T``. The first and last
columns are peeled off so the inner loop carries no branch.
"""

from numba import njit, prange, types

from ._types import JIT, PARTIAL, both, tuple_of


@njit(**JIT)
def _s_pixel(uc, vc, ud, vd, ur, vr, wc, half_osm, half_mu):
    """Contribution of one pixel to S (osmosis part, mu part)."""
    rc = uc / vc
    g1 = ud / vd - rc
    g2 = ur / vr - rc
    e = vc - wc
    return half_osm * vc * (g1 * g1 + g2 * g2), half_mu * e * e


@njit(**JIT)
def _grad_pixel(uc, vc, ud, vd, ur, vr, uu, vu, ul, vl, wc, osm, mu, half):
    """dS/du, dS/dv and the S contribution at one pixel from its 4-neighbourhood."""
    rc = uc / vc
    g1 = ud / vd - rc
    g2 = ur / vr - rc
    # q = grad^T(v grad r) = -(p1_here - p1_up) - (p2_here - p2_left)
    q = -(vc * g1 - vu * (rc - uu / vu)) - (vc * g2 - vl * (rc - ul / vl))
    sq = g1 * g1 + g2 * g2
    e = vc - wc
    gu = osm * q / vc
    gv = osm * (half * sq - rc * q / vc) + mu * e
    return gu, gv, half * osm * vc * sq + half * mu * e * e


@njit(
    both(lambda A, F: types.float64(A, A, A, F, F, A, A, PARTIAL)),
    parallel=True,
    **JIT,
)
def smooth_gradient(u, v, w, osm, mu, gu, gv, partial):
    """Write dS/du into ``gu`` and dS/dv into ``gv`` in one pass; return S(u, v)."""
    h, wd = u.shape
    half = u.dtype.type(0.5)
    for i in prange(h):
        up, dn = max(i - 1, 0), min(i + 1, h - 1)
        uc, vc, ud, vd, uu, vu = u[i], v[i], u[dn], v[dn], u[up], v[up]
        wr, gur, gvr = w[i], gu[i], gv[i]
        acc = 0.0
        if wd == 1:
            a, b, s = _grad_pixel(uc[0], vc[0], ud[0], vd[0], uc[0], vc[0], uu[0], vu[0],
                                  uc[0], vc[0], wr[0], osm, mu, half)
            gur[0], gvr[0] = a, b
            acc += s
        else:
            a, b, s = _grad_pixel(uc[0], vc[0], ud[0], vd[0], uc[1], vc[1], uu[0], vu[0],
                                  uc[0], vc[0], wr[0], osm, mu, half)
            gur[0], gvr[0] = a, b
            acc += s
            for j in range(1, wd - 1):
                a, b, s = _grad_pixel(uc[j], vc[j], ud[j], vd[j], uc[j + 1], vc[j + 1],
                                      uu[j], vu[j], uc[j - 1], vc[j - 1], wr[j], osm, mu, half)
                gur[j], gvr[j] = a, b
                acc += s
            k = wd - 1
            a, b, s = _grad_pixel(uc[k], vc[k], ud[k], vd[k], uc[k], vc[k], uu[k], vu[k],
                                  uc[k - 1], vc[k - 1], wr[k], osm, mu, half)
            gur[k], gvr[k] = a, b
            acc += s
        partial[i, 0] = acc
    total = 0.0
    for i in range(h):
        total += partial[i, 0]
    return total


@njit(**JIT)
def smooth_row(uc, vc, ud, vd, wr, half_osm, half_mu):
    """(osmosis, mu) parts of S on one row, float64 sums; ``ud, vd`` the row below."""
    so = 0.0
    sm = 0.0
    wd = uc.shape[0]
    for j in range(wd - 1):
        a, b = _s_pixel(uc[j], vc[j], ud[j], vd[j], uc[j + 1], vc[j + 1], wr[j],
                        half_osm, half_mu)
        so += a
        sm += b
    k = wd - 1
    a, b = _s_pixel(uc[k], vc[k], ud[k], vd[k], uc[k], vc[k], wr[k], half_osm, half_mu)
    return so + a, sm + b


@njit(both(lambda A, F: tuple_of(2)(A, A, A, F, F, PARTIAL)), parallel=True, **JIT)
def smooth_value(u, v, w, osm, mu, partial):
    """(osmosis part, mu part) of S(u, v)."""
    h = u.shape[0]
    half = u.dtype.type(0.5)
    ho, hm = half * osm, half * mu
    for i in prange(h):
        dn = min(i + 1, h - 1)
        partial[i, 0], partial[i, 1] = smooth_row(u[i], v[i], u[dn], v[dn], w[i], ho, hm)
    so = 0.0
    sm = 0.0
    for i in range(h):
        so += partial[i, 0]
        sm += partial[i, 1]
    return so, sm
