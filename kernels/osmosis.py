"""The smooth part S of the energy, pixel by pixel and row by row (docs/model.md 3).

    S(u, v) = sum (osm/2) v |grad r|^2 + (mu/2) (v - w)^2,      r = u / v

Its exact gradients, fused with the energy, are in ``exact.py``. Borders: the row below
the last row and the column right of the last column are clamped to the pixel itself,
which makes the forward difference 0 there (Neumann); the last column is peeled off so
the inner loop carries no branch.
"""

from numba import njit

from ._types import JIT


@njit(**JIT)
def s_pixel(uc, vc, ud, vd, ur, vr, wc, half_osm, half_mu):
    """Contribution of one pixel to S (osmosis part, mu part)."""
    rc = uc / vc
    g1 = ud / vd - rc
    g2 = ur / vr - rc
    e = vc - wc
    return half_osm * vc * (g1 * g1 + g2 * g2), half_mu * e * e


@njit(**JIT)
def smooth_row(uc, vc, ud, vd, wr, half_osm, half_mu):
    """(osmosis, mu) parts of S on one row, float64 sums; ``ud, vd`` the row below."""
    so = 0.0
    sm = 0.0
    wd = uc.shape[0]
    for j in range(wd - 1):
        a, b = s_pixel(uc[j], vc[j], ud[j], vd[j], uc[j + 1], vc[j + 1], wr[j],
                        half_osm, half_mu)
        so += a
        sm += b
    k = wd - 1
    a, b = s_pixel(uc[k], vc[k], ud[k], vd[k], uc[k], vc[k], wr[k], half_osm, half_mu)
    return so + a, sm + b
