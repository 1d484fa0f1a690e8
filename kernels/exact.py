"""The exact scheme's fused passes: gradient with energy, and kernel descent tests.

``gradient_energy`` at (u, v), in one pass, with r = u / v:

    gu = dS/du = osm q / v,                 q = grad^T(v grad r)
    gv = dS/dv + eta_g grad R(v) = osm (|grad r|^2 / 2 - r q / v) + mu (v - w) + eta_g grad R(v)
    and the sums S (osmosis, mu), (gamma/2) alpha (u - f)^2, R(v), and ||grad E||^2 with
    grad E = (gu + gamma alpha (u - f), dS/dv + eta grad R(v)) (E is C^1),

``descent_pair`` the quantities of kernel descent tests (docs/model.md 5) in one pass;
``v_descent`` the block-coordinate solver's v test, as per-pixel differences.
``R`` is Huber-TV (grad R = grad^T(grad v / max(eps, |grad v|))) or Tikhonov
(grad R = grad^T grad v); ``eta_g`` is 0 when the v-block takes R by its prox.

Each pass works on blocks of rows with row buffers (per block, ``rows[block]``): the
ratio r of a row is computed once and carried to the next row, and the fluxes
v grad r and grad R of the row above are carried too (recomputed once at the start of a
block), so each pixel costs one division for r, one for 1/v, one square root and one
division for the Huber flux. The last column is peeled off, so the inner loops carry
no branch; ``grad^T`` reads the flux of the row above row 0 and of the column left of
column 0 as 0.
"""

import math

import numpy as np
from numba import njit, prange, types

from ._reduce import column_min, column_sum, row_min
from ._types import JIT, PARTIAL, kernel, tuple_of
from .regularizer import TIKHONOV

ROW_BUFFERS = 9  # per block: rc, rd, p1u, f1u, p1c, p2c, f1c, f2c, sq


@njit(**JIT)
def _ratio_row(ur, vr, out):
    for j in range(ur.shape[0]):
        out[j] = ur[j] / vr[j]


@njit(**JIT)
def _flux(h1, h2, kind, eps):
    """grad R's flux from forward differences: (h1, h2) / max(eps, |h|) or (h1, h2)."""
    if kind == TIKHONOV:
        return h1, h2, 0.5 * (h1 * h1 + h2 * h2)
    t = math.sqrt(h1 * h1 + h2 * h2)
    m = max(eps, t)
    r = t * t / (2 * eps) if t < eps else t - eps / 2
    return h1 / m, h2 / m, r


@njit(**JIT)
def _flux_row(vc, vd, kind, eps, f1, f2):
    """Fluxes of R on one row into (f1, f2); return sum R on the row (float64)."""
    wd = vc.shape[0]
    acc = 0.0
    for j in range(wd - 1):
        a, b, r = _flux(vd[j] - vc[j], vc[j + 1] - vc[j], kind, eps)
        f1[j] = a
        f2[j] = b
        acc += r
    k = wd - 1
    a, b, r = _flux(vd[k] - vc[k], vc[k] - vc[k], kind, eps)
    f1[k] = a
    f2[k] = b
    return acc + r


@njit(**JIT)
def _osmosis_row(vc, rc, rd, p1, p2, sq):
    """v grad r (p1, p2) and |grad r|^2 on one row; return sum v |grad r|^2 (float64)."""
    wd = vc.shape[0]
    acc = 0.0
    for j in range(wd - 1):
        g1 = rd[j] - rc[j]
        g2 = rc[j + 1] - rc[j]
        s = g1 * g1 + g2 * g2
        p1[j] = vc[j] * g1
        p2[j] = vc[j] * g2
        sq[j] = s
        acc += vc[j] * s
    k = wd - 1
    g1 = rd[k] - rc[k]
    p1[k] = vc[k] * g1
    p2[k] = vc[k] * (rc[k] - rc[k])
    sq[k] = g1 * g1
    return acc + vc[k] * g1 * g1


@njit(**JIT)
def _gradient_row(uc, vc, wc, fc, ac, rc, p1u, p1c, p2c, f1u, f1c, f2c, sq, osm, mu, gamma,
                  eta, eta_g, gu, gv):
    """gu, gv on one row from the row's fluxes and those above; return ||grad E||^2."""
    wd = uc.shape[0]
    half = uc.dtype.type(0.5)
    one = uc.dtype.type(1)
    zero = uc.dtype.type(0)
    acc = 0.0
    p2l = zero
    f2l = zero
    for j in range(wd):
        q = -(p1c[j] - p1u[j]) - (p2c[j] - p2l)
        rg = -(f1c[j] - f1u[j]) - (f2c[j] - f2l)
        iv = one / vc[j]
        a = osm * q * iv
        b = osm * (half * sq[j] - rc[j] * q * iv) + mu * (vc[j] - wc[j])
        gu[j] = a
        gv[j] = b + eta_g * rg
        eu = a + gamma * ac[j] * (uc[j] - fc[j])
        ev = b + eta * rg
        acc += eu * eu + ev * ev
        p2l = p2c[j]
        f2l = f2c[j]
    return acc


@kernel(lambda A, F: tuple_of(5)(A, A, A, A, A, F, F, F, F, F, F, types.int64, A, A,
                                  types.Array(F, 3, "C"), types.int64, PARTIAL), parallel=True)
def gradient_energy(u, v, w, f, alpha, osm, mu, gamma, eta, eta_g, eps, kind, gu, gv, rows,
                    block_rows, partial):
    """Write gu, gv at (u, v); return (S osmosis, S mu, gamma fidelity, R, ||grad E||^2).

    ``eta`` weighs R in the gradient norm, ``eta_g`` in gv (0 when the v-block takes R
    by its prox). R is returned without eta. ``rows`` is (blocks, 9, W) scratch.
    """
    h, wd = u.shape
    half = u.dtype.type(0.5)
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        buf = rows[blk]
        rc, rd, p1u, f1u, p1c, p2c, f1c, f2c, sq = (buf[0], buf[1], buf[2], buf[3], buf[4],
                                                    buf[5], buf[6], buf[7], buf[8])
        _ratio_row(u[r0], v[r0], rc)
        if r0 == 0:
            p1u[:] = 0
            f1u[:] = 0
        else:  # the fluxes of the row above the block, into p1u, f1u (p1c, f2c scratch)
            _ratio_row(u[r0 - 1], v[r0 - 1], rd)
            _osmosis_row(v[r0 - 1], rd, rc, p1u, p1c, sq)
            _flux_row(v[r0 - 1], v[r0], kind, eps, f1u, f2c)
        for i in range(r0, r1):
            dn = min(i + 1, h - 1)
            _ratio_row(u[dn], v[dn], rd)
            so = _osmosis_row(v[i], rc, rd, p1c, p2c, sq)
            sr = _flux_row(v[i], v[dn], kind, eps, f1c, f2c)
            sm = 0.0
            sf = 0.0
            vi, wi, ui, fi, ai = v[i], w[i], u[i], f[i], alpha[i]
            for j in range(wd):
                e = vi[j] - wi[j]
                sm += e * e
                d = ui[j] - fi[j]
                sf += ai[j] * d * d
            gn = _gradient_row(ui, vi, wi, fi, ai, rc, p1u, p1c, p2c, f1u, f1c, f2c, sq,
                               osm, mu, gamma, eta, eta_g, gu[i], gv[i])
            partial[i, 0] = half * osm * so
            partial[i, 1] = half * mu * sm
            partial[i, 2] = half * gamma * sf
            partial[i, 3] = sr
            partial[i, 4] = gn
            p1u, p1c = p1c, p1u
            f1u, f1c = f1c, f1u
            rc, rd = rd, rc
    return (column_sum(partial, 0), column_sum(partial, 1), column_sum(partial, 2),
            column_sum(partial, 3), column_sum(partial, 4))


@njit(**JIT)
def _smooth_row(vc, vd, rc, rd, wc):
    """(sum v |grad r|^2, sum (v - w)^2) on one row from the ratios of it and below."""
    wd = vc.shape[0]
    so = 0.0
    sm = 0.0
    for j in range(wd - 1):
        g1 = rd[j] - rc[j]
        g2 = rc[j + 1] - rc[j]
        so += vc[j] * (g1 * g1 + g2 * g2)
        e = vc[j] - wc[j]
        sm += e * e
    k = wd - 1
    g1 = rd[k] - rc[k]
    e = vc[k] - wc[k]
    return so + vc[k] * g1 * g1, sm + e * e


@njit(**JIT)
def _inner_row(g, xn, xo):
    ip = 0.0
    sq = 0.0
    for j in range(g.shape[0]):
        d = xn[j] - xo[j]
        ip += g[j] * d
        sq += d * d
    return ip, sq


@kernel(lambda A, F: tuple_of(8)(A, A, A, A, A, A, A, F, F, F, types.int64, types.boolean,
                                  types.boolean, types.Array(F, 3, "C"), types.int64,
                                  PARTIAL), parallel=True)
def descent_pair(p1, p2, u, v, w, gu, gv, osm, mu, eps, kind, do_u, do_v, rows, block_rows,
                 partial):
    """Both descent tests' quantities at the iterate (u, v), in one pass.

    Returns (S(p1, v), <gu, p1 - u>, ||p1 - u||^2, S(u, p2), <gv, p2 - v>, ||p2 - v||^2,
    R(p2), min p2); R(p2) (without eta) only when ``kind`` is not 0, i.e. when the
    v-block's smooth part holds the regulariser; min p2 because the energy is defined for
    v > 0 only. A block whose flag is False is skipped (its entries are 0, min p2 is
    inf). ``rows`` is (blocks, 9, W) scratch.
    """
    h, wd = u.shape
    half = u.dtype.type(0.5)
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        buf = rows[blk]
        ac, ad, bc, bd, f1, f2 = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5]
        if do_u:
            _ratio_row(p1[r0], v[r0], ac)
        if do_v:
            _ratio_row(u[r0], p2[r0], bc)
        for i in range(r0, r1):
            dn = min(i + 1, h - 1)
            for k in range(8):
                partial[i, k] = 0.0
            if do_u:
                _ratio_row(p1[dn], v[dn], ad)
                so, sm = _smooth_row(v[i], v[dn], ac, ad, w[i])
                partial[i, 0] = half * osm * so + half * mu * sm
                partial[i, 1], partial[i, 2] = _inner_row(gu[i], p1[i], u[i])
                ac, ad = ad, ac
            if do_v:
                _ratio_row(u[dn], p2[dn], bd)
                so, sm = _smooth_row(p2[i], p2[dn], bc, bd, w[i])
                partial[i, 3] = half * osm * so + half * mu * sm
                partial[i, 4], partial[i, 5] = _inner_row(gv[i], p2[i], v[i])
                partial[i, 7] = row_min(p2[i])
                if kind != 0:
                    partial[i, 6] = _flux_row(p2[i], p2[dn], kind, eps, f1, f2)
                bc, bd = bd, bc
    return (column_sum(partial, 0), column_sum(partial, 1), column_sum(partial, 2),
            column_sum(partial, 3), column_sum(partial, 4), column_sum(partial, 5),
            column_sum(partial, 6), column_min(partial, 7) if do_v else math.inf)


@njit(**JIT)
def _ratio_row64(ur, vr, out):
    for j in range(ur.shape[0]):
        out[j] = np.float64(ur[j]) / np.float64(vr[j])


@njit(**JIT)
def _reg_px(g1, g2, tik, eps):
    """R at one pixel without a branch: Huber ``m^2 / (2 eps) + (t - m)``, m = min(t, eps),
    or Tikhonov ``t^2 / 2`` when ``tik`` is 1 (the loops then vectorise)."""
    t2 = g1 * g1 + g2 * g2
    t = math.sqrt(t2)
    m = min(t, eps)
    return tik * 0.5 * t2 + (1.0 - tik) * (m * m / (2.0 * eps) + (t - m))


@njit(**JIT)
def _v_change_px(oc, od, nc, nd, vi, vd, pi, pd, wi, gi, j, jr, osm, mu, eta, tik, eps):
    """Pixel j's share of E(u, p) - E(u, v) and of the test's inner products (float64);
    ``jr`` is the right neighbour's column (j itself on the last column)."""
    a1 = od[j] - oc[j]
    a2 = oc[jr] - oc[j]
    b1 = nd[j] - nc[j]
    b2 = nc[jr] - nc[j]
    pv = np.float64(pi[j])
    vv = np.float64(vi[j])
    ww = np.float64(wi[j])
    de = 0.5 * osm * (pv * (b1 * b1 + b2 * b2) - vv * (a1 * a1 + a2 * a2)) \
        + 0.5 * mu * (pv - vv) * (pv + vv - 2.0 * ww) \
        + eta * (_reg_px(np.float64(pd[j]) - pv, np.float64(pi[jr]) - pv, tik, eps)
                 - _reg_px(np.float64(vd[j]) - vv, np.float64(vi[jr]) - vv, tik, eps))
    d = pv - vv
    return de, np.float64(gi[j]) * d, d * d


@kernel(lambda A, F: tuple_of(4)(A, A, A, A, A, types.float64, types.float64,
                                  types.float64, types.float64, types.int64,
                                  types.Array(types.float64, 3, "C"), types.int64,
                                  PARTIAL), parallel=True)
def v_descent(u, v, p, w, gv, osm, mu, eta, eps, kind, rows, block_rows, partial):
    """The v-block's descent test at fixed u, summed as per-pixel differences in float64.

    Returns (E(u, p) - E(u, v) without the u-fidelity (v does not enter it),
    <gv, p - v>, ||p - v||^2, min p), the regulariser ``kind`` weighed by ``eta`` (0
    when the v-block takes it by its prox: the test is then on S alone). A difference
    of two whole energies loses more to rounding than a v-step near stationarity 1e-6
    gains; per pixel, float64 differences keep the test meaningful two orders of
    magnitude further, in float32 storage too. ``rows`` is (blocks, 4, W) float64 scratch.
    """
    h, wd = u.shape
    tik = 1.0 if kind == TIKHONOV else 0.0
    nblocks = (h + block_rows - 1) // block_rows
    for blk in prange(nblocks):
        r0 = blk * block_rows
        r1 = min(r0 + block_rows, h)
        buf = rows[blk]
        oc, od, nc, nd = buf[0], buf[1], buf[2], buf[3]
        _ratio_row64(u[r0], v[r0], oc)
        _ratio_row64(u[r0], p[r0], nc)
        for i in range(r0, r1):
            dn = min(i + 1, h - 1)
            _ratio_row64(u[dn], v[dn], od)
            _ratio_row64(u[dn], p[dn], nd)
            vi, vd, pi, pd, wi, gi = v[i], v[dn], p[i], p[dn], w[i], gv[i]
            de = 0.0
            ip = 0.0
            sq = 0.0
            for j in range(wd - 1):
                a, b, c = _v_change_px(oc, od, nc, nd, vi, vd, pi, pd, wi, gi, j, j + 1,
                                       osm, mu, eta, tik, eps)
                de += a
                ip += b
                sq += c
            k = wd - 1
            a, b, c = _v_change_px(oc, od, nc, nd, vi, vd, pi, pd, wi, gi, k, k, osm, mu,
                                   eta, tik, eps)
            partial[i, 0] = de + a
            partial[i, 1] = ip + b
            partial[i, 2] = sq + c
            partial[i, 3] = row_min(pi)
            oc, od = od, oc
            nc, nd = nd, nc
    return (column_sum(partial, 0), column_sum(partial, 1), column_sum(partial, 2),
            column_min(partial, 3))
