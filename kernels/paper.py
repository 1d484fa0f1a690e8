"""The paper scheme's variant passes (docs/model.md 6): the authors' reference discretisation.

u-gradient from the osmosis matrix of Vogel et al. built from v (item 1),

    d1[i+1/2, j] = 2 (v[i+1,j] - v[i,j]) / (v[i+1,j] + v[i,j])     (0 beyond the border)
    (A u)[i,j]   = (grad^T grad u)[i,j] + d1[i+1/2,j] (u[i+1,j] + u[i,j]) / 2
                   - d1[i-1/2,j] (u[i,j] + u[i-1,j]) / 2 + (the same along j)
    gu           = osm (A u) / v,

and the v-gradient expanded term by term (item 2),

    gv = (osm/2) (-|grad u|^2/v^2 + 4 u/v^3 (grad u . grad v) - grad^T(2 u/v^2 grad u)
                  - 3 u^2/v^4 |grad v|^2 + v grad^T(u^2/v^3 grad v)) + mu (v - w).

Neighbours are clamped at the border (a clamped forward difference is 0, which is the
Neumann boundary, and a clamped drift is 0); the select this puts in the inner loop
is as fast as peeled border columns on the smooth-gradient pass.
"""

import math

from numba import njit, prange, types

from ._reduce import column_min, column_sum, row_min
from ._types import JIT, PARTIAL, kernel, tuple_of
from .osmosis import s_pixel
from .regularizer import reg_value


@njit(**JIT)
def _au(uc, uu, ud, ul, ur, vc, vu, vd, vl, vr, half, two):
    """(A u) at one pixel, A built from v."""
    lap = -((ud - uc) - (uc - uu)) - ((ur - uc) - (uc - ul))
    dd = two * (vd - vc) / (vd + vc)
    du = two * (vc - vu) / (vc + vu)
    dr = two * (vr - vc) / (vr + vc)
    dl = two * (vc - vl) / (vc + vl)
    return (lap + dd * (ud + uc) * half - du * (uc + uu) * half
            + dr * (ur + uc) * half - dl * (uc + ul) * half)


@njit(**JIT)
def _gv(uc, uu, ud, ul, ur, vc, vu, vd, vl, vr, wc, osm, mu, half, two):
    """The paper's term-by-term v-gradient at one pixel."""
    gu1, gu2 = ud - uc, ur - uc
    gv1, gv2 = vd - vc, vr - vc
    v2 = vc * vc
    v3 = v2 * vc
    t1 = -(gu1 * gu1 + gu2 * gu2) / v2
    t2 = 4 * uc / v3 * (gu1 * gv1 + gu2 * gv2)
    # grad^T(P) with P = 2 u / v^2 grad u: -(P1_here - P1_up) - (P2_here - P2_left)
    p_c = two * uc / v2
    gtp = -(p_c * gu1 - two * uu / (vu * vu) * (uc - uu)) \
        - (p_c * gu2 - two * ul / (vl * vl) * (uc - ul))
    t4 = -3 * uc * uc / (v2 * v2) * (gv1 * gv1 + gv2 * gv2)
    q_c = uc * uc / v3
    gtq = -(q_c * gv1 - uu * uu / (vu * vu * vu) * (vc - vu)) \
        - (q_c * gv2 - ul * ul / (vl * vl * vl) * (vc - vl))
    return osm * half * (t1 + t2 - gtp + t4 + vc * gtq) + mu * (vc - wc)


@njit(**JIT)
def _neighbours(x, i, j, h, w):
    """x at (i, j), above, below, left, right, clamped to the image."""
    return (x[i, j], x[max(i - 1, 0), j], x[min(i + 1, h - 1), j],
            x[i, max(j - 1, 0)], x[i, min(j + 1, w - 1)])


@kernel(lambda A, F: tuple_of(4)(A, A, A, A, A, F, F, F, F, types.int64, A, A, PARTIAL),
        parallel=True)
def paper_gradients(u, v, w, f, alpha, osm, mu, gamma, eps, kind, gu, gv, partial):
    """Write the paper scheme's u- and v-gradients at (u, v); return the energy's terms
    there as ``energy.energy_terms`` does (osmosis, mu fidelity, gamma fidelity,
    regulariser without eta; ``kind`` as there), from the same pass."""
    h, wd = u.shape
    half, two = u.dtype.type(0.5), u.dtype.type(2)
    ho, hm, hg = half * osm, half * mu, half * gamma
    for i in prange(h):
        so = 0.0
        sm = 0.0
        sf = 0.0
        r = 0.0
        for j in range(wd):
            uc, uu, ud, ul, ur = _neighbours(u, i, j, h, wd)
            vc, vu, vd, vl, vr = _neighbours(v, i, j, h, wd)
            gu[i, j] = osm * _au(uc, uu, ud, ul, ur, vc, vu, vd, vl, vr, half, two) / vc
            gv[i, j] = _gv(uc, uu, ud, ul, ur, vc, vu, vd, vl, vr, w[i, j], osm, mu, half,
                           two)
            a, b = s_pixel(uc, vc, ud, vd, ur, vr, w[i, j], ho, hm)
            so += a
            sm += b
            e = uc - f[i, j]
            sf += hg * alpha[i, j] * e * e
            r += reg_value(vd - vc, vr - vc, kind, eps)
        partial[i, 0], partial[i, 1], partial[i, 2], partial[i, 3] = so, sm, sf, r
    return (column_sum(partial, 0), column_sum(partial, 1), column_sum(partial, 2),
            column_sum(partial, 3))


@njit(inline="always", **JIT)
def _read_test_row(us, vs, p, base, g, w, i, h, wd, half_osm, half_mu):
    """Row i of a descent test that reads its gradient g: (S(us, vs), <g, p - base>,
    ||p - base||^2), with p the block's trial (us or vs) and base its current value."""
    s = 0.0
    ip = 0.0
    sq = 0.0
    for j in range(wd):
        uc, _, ud, _, ur = _neighbours(us, i, j, h, wd)
        vc, _, vd, _, vr = _neighbours(vs, i, j, h, wd)
        a, b = s_pixel(uc, vc, ud, vd, ur, vr, w[i, j], half_osm, half_mu)
        s += a + b
        d = p[i, j] - base[i, j]
        ip += g[i, j] * d
        sq += d * d
    return s, ip, sq


@kernel(lambda A, F: tuple_of(8)(A, A, A, A, A, A, A, A, F, F, types.boolean,
                                    types.boolean, types.boolean, types.boolean, PARTIAL),
        parallel=True)
def paper_tests(p1, p2, u, v, va, w, gu, gv, osm, mu, do_u, do_v, use_gu, use_gv, partial):
    """Both descent tests of docs/model.md 6 item 3 at the current (u, v), in one pass.

    Returns (S(u, v), S(p1, v), <osm (A u) / v, p1 - u>, ||p1 - u||^2, S(u, p2),
    <gv_paper(u, v), p2 - v>, ||p2 - v||^2, min p2), with A built from ``va`` (v at the
    start of the iteration); a block whose flag is False is skipped (its entries are 0,
    min p2 is inf). ``use_gu`` / ``use_gv``: read the gradient from ``gu`` / ``gv``
    instead of computing it, where the caller knows that it holds ``paper_gradients``'
    at this (u, v) with va = v (no block has moved since): the same expression (equal up
    to rounding, each kernel compiled on its own), without its 5 and 9 divisions per
    pixel.
    """
    h, wd = u.shape
    half, two = u.dtype.type(0.5), u.dtype.type(2)
    ho, hm = half * osm, half * mu
    for i in prange(h):
        # one loop per block, each branch-free so that it vectorises
        s0 = 0.0
        for j in range(wd):
            uc, _, ud, _, ur = _neighbours(u, i, j, h, wd)
            vc, _, vd, _, vr = _neighbours(v, i, j, h, wd)
            a, b = s_pixel(uc, vc, ud, vd, ur, vr, w[i, j], ho, hm)
            s0 += a + b
        su = 0.0
        ipu = 0.0
        squ = 0.0
        if do_u and use_gu:
            su, ipu, squ = _read_test_row(p1, v, p1, u, gu, w, i, h, wd, ho, hm)
        elif do_u:
            for j in range(wd):
                uc, uu, ud, ul, ur = _neighbours(u, i, j, h, wd)
                vc, _, vd, _, vr = _neighbours(v, i, j, h, wd)
                pc, _, pd, _, pr = _neighbours(p1, i, j, h, wd)
                ac, au, ad, al, ar = _neighbours(va, i, j, h, wd)
                a, b = s_pixel(pc, vc, pd, vd, pr, vr, w[i, j], ho, hm)
                su += a + b
                g = osm * _au(uc, uu, ud, ul, ur, ac, au, ad, al, ar, half, two) / vc
                d = pc - uc
                ipu += g * d
                squ += d * d
        sv = 0.0
        ipv = 0.0
        sqv = 0.0
        if do_v and use_gv:
            sv, ipv, sqv = _read_test_row(u, p2, p2, v, gv, w, i, h, wd, ho, hm)
        elif do_v:
            for j in range(wd):
                uc, uu, ud, ul, ur = _neighbours(u, i, j, h, wd)
                vc, vu, vd, vl, vr = _neighbours(v, i, j, h, wd)
                pc, _, pd, _, pr = _neighbours(p2, i, j, h, wd)
                wc = w[i, j]
                a, b = s_pixel(uc, pc, ud, pd, ur, pr, wc, ho, hm)
                sv += a + b
                g = _gv(uc, uu, ud, ul, ur, vc, vu, vd, vl, vr, wc, osm, mu, half, two)
                d = pc - vc
                ipv += g * d
                sqv += d * d
        partial[i, 0], partial[i, 1], partial[i, 2], partial[i, 3] = s0, su, ipu, squ
        partial[i, 4], partial[i, 5], partial[i, 6] = sv, ipv, sqv
        partial[i, 7] = row_min(p2[i]) if do_v else math.inf
    return (column_sum(partial, 0), column_sum(partial, 1), column_sum(partial, 2),
            column_sum(partial, 3), column_sum(partial, 4), column_sum(partial, 5),
            column_sum(partial, 6), column_min(partial, 7))
