"""Every kernel against its plain-NumPy reference, plus the mathematical checks."""

import numpy as np
import pytest

import fastosmosis.kernels as K
from fastosmosis._driver import block_rows
from tests import reference as R
from tests.conftest import SHAPES, assert_close, positive_field


def test_kernels_importable_from_package():
    # kernels/ is mapped to fastosmosis.kernels; a broken mapping fails here first
    assert K.gradient_energy.__module__ == "fastosmosis.kernels.exact"


def gradient_energy(u, v, w, f, alpha, osm, mu, gamma=0.0, eta=0.0, eta_g=0.0, eps=0.05,
                    kind=K.HUBER, rows_per_block=None):
    """Run the fused kernel with its scratch; return (gu, gv, sums)."""
    h, wd = u.shape
    br = rows_per_block or block_rows(h)
    rows = np.empty((-(-h // br), K.ROW_BUFFERS, wd), u.dtype)
    gu, gv = np.empty_like(u), np.empty_like(u)
    t = K.gradient_energy(u, v, w, f, alpha, osm, mu, gamma, eta, eta_g, eps, kind, gu, gv,
                          rows, br, np.empty((h, 8)))
    return gu, gv, t


def problem(rng, shape, dtype):
    u, v, w, f = (positive_field(rng, shape, dtype) for _ in range(4))
    alpha = np.ascontiguousarray(rng.uniform(0, 1, shape), dtype=dtype)
    return u, v, w, f, alpha


def test_grad_and_adjoint(rng, shape, dtype):
    x = positive_field(rng, shape, dtype)
    g1, g2 = np.empty_like(x), np.empty_like(x)
    K.grad(x, g1, g2)
    r1, r2 = R.grad(x.astype(np.float64))
    assert_close(g1, r1, dtype, scale=1)
    assert_close(g2, r2, dtype, scale=1)
    p1, p2 = (positive_field(rng, shape, dtype, -1, 1) for _ in range(2))
    out = np.empty_like(x)
    K.grad_t(p1, p2, out)
    assert_close(out, R.grad_t(p1.astype(np.float64), p2.astype(np.float64)), dtype, scale=1)


@pytest.mark.parametrize("shape", SHAPES + [(13, 9)])
def test_adjoint_identity(rng, shape):
    """<grad x, p> = <x, grad^T p> to rounding, for the kernels and the reference."""
    x = rng.standard_normal(shape)
    p1, p2 = rng.standard_normal(shape), rng.standard_normal(shape)
    g1, g2, gt = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    K.grad(x, g1, g2)
    K.grad_t(p1, p2, gt)
    lhs = np.sum(g1 * p1) + np.sum(g2 * p2)
    assert lhs == pytest.approx(np.sum(x * gt), rel=1e-12, abs=1e-12)
    r1, r2 = R.grad(x)
    assert np.sum(r1 * p1) + np.sum(r2 * p2) == pytest.approx(
        np.sum(x * R.grad_t(p1, p2)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kind, eta_g", [(K.HUBER, 0.0), (K.HUBER, 0.5), (K.TIKHONOV, 0.7)])
def test_gradient_energy(rng, shape, dtype, kind, eta_g):
    eta = 0.5
    """The fused gradient + energy pass, with row blocks of the default size and of 3."""
    u, v, w, f, alpha = problem(rng, shape, dtype)
    ref_gu, ref_gv, ref_t = R.gradient_energy(*(x.astype(np.float64) for x in
                                                (u, v, w, f, alpha)), 1.3, 100.0, 2.0,
                                              eta, eta_g, 0.05, kind)
    for rows in (None, 3):
        gu, gv, t = gradient_energy(u, v, w, f, alpha, 1.3, 100.0, 2.0, eta, eta_g, 0.05,
                                    kind, rows)
        assert_close(gu, ref_gu, dtype)
        assert_close(gv, ref_gv, dtype)
        for a, b in zip(t, ref_t, strict=True):
            assert_close(a, b, dtype, scale=max(abs(b), 1.0))


@pytest.mark.parametrize("shape", [(1, 6), (6, 1), (2, 2), (5, 4)])
def test_exact_gradients_match_finite_differences(rng, shape):
    """dS/du and dS/dv against central differences of S (float64)."""
    u, v, w = (positive_field(rng, shape) for _ in range(3))
    osm, mu = 1.0, 3.0
    gu, gv, _ = gradient_energy(u, v, w, u, u, osm, mu)
    h = 1e-6

    def s(uu, vv):
        return sum(R.smooth_value(uu, vv, w, osm, mu))

    for idx in np.ndindex(shape):
        e = np.zeros(shape)
        e[idx] = h
        fd_u = (s(u + e, v) - s(u - e, v)) / (2 * h)
        fd_v = (s(u, v + e) - s(u, v - e)) / (2 * h)
        assert gu[idx] == pytest.approx(fd_u, rel=1e-6, abs=1e-7)
        assert gv[idx] == pytest.approx(fd_v, rel=1e-6, abs=1e-7)


def test_gradient_is_continuous_osmosis_operator(rng):
    """dS/du = -(Lap u - div(d u)) / v with d = grad log v (paper eq. 10), to O(h).

    A consistency check of the discretisation (the exactness is the finite-difference
    test above): the two discretisations differ by O(h) relative to the operator.
    """
    n = 64
    t = np.linspace(0, 1, n)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    v = 1.5 + 0.3 * np.sin(2 * xx) * np.cos(yy)
    u = 1.2 + 0.2 * np.cos(3 * xx + yy)
    gu, _, _ = gradient_energy(u, v, v, u, u, 1.0, 1.0)
    # discrete form: grad^T(v grad(u/v)) = -div(grad u - u grad log v) at h = 1
    g1, g2 = R.grad(u)
    l1, l2 = R.grad(np.log(v))
    ustar1 = 0.5 * (u + np.roll(u, -1, 0))
    ustar2 = 0.5 * (u + np.roll(u, -1, 1))
    cont = R.grad_t(g1 - ustar1 * l1, g2 - ustar2 * l2) / v
    inner = (slice(2, -2), slice(2, -2))
    assert np.max(np.abs(gu[inner] - cont[inner])) < 1e-2 * np.max(np.abs(cont[inner]))


def test_u_step_prox_and_v_step(rng, shape, dtype):
    u, v, _, f, alpha = problem(rng, shape, dtype)
    prev, g = positive_field(rng, shape, dtype), positive_field(rng, shape, dtype, -1, 1)
    out = np.empty_like(u)
    K.u_step_prox(u, prev, g, f, alpha, 0.3, 0.4, 1.5, out)
    args64 = [x.astype(np.float64) for x in (u, prev, g, f, alpha)]
    assert_close(out, R.u_step_prox(*args64, 0.3, 0.4, 1.5), dtype)
    K.v_step(v, prev, g, 0.02, 0.4, out)
    ref = R.v_step(*(x.astype(np.float64) for x in (v, prev, g)), 0.02, 0.4)
    assert_close(out, ref, dtype)


def test_energy_terms(rng, shape, dtype):
    u, v, w, f, alpha = problem(rng, shape, dtype)
    partial = np.empty((shape[0], 4))
    for kind in (K.HUBER, K.TIKHONOV):
        t = K.energy_terms(u, v, w, f, alpha, 1.0, 100.0, 2.0, 0.05, kind, partial)
        r = R.energy_terms(*(x.astype(np.float64) for x in (u, v, w, f, alpha)),
                           1.0, 100.0, 2.0, 0.05, kind)
        for a, b in zip(t, r, strict=True):
            assert_close(a, b, dtype)

@pytest.mark.parametrize("kind", [0, K.HUBER, K.TIKHONOV])
def test_descent_pair(rng, shape, dtype, kind):
    u, v, w, _, _ = problem(rng, shape, dtype)
    p1, p2 = positive_field(rng, shape, dtype), positive_field(rng, shape, dtype)
    gu, gv = (positive_field(rng, shape, dtype, -1, 1) for _ in range(2))
    ref = R.descent_pair(*(x.astype(np.float64) for x in (p1, p2, u, v, w, gu, gv)), 1.0,
                         100.0, 0.05, kind)
    for br in (block_rows(shape[0]), 3):
        rows = np.empty((-(-shape[0] // br), K.ROW_BUFFERS, shape[1]), dtype)
        for do_u, do_v in ((True, True), (True, False), (False, True)):
            t = K.descent_pair(p1, p2, u, v, w, gu, gv, 1.0, 100.0, 0.05, kind, do_u, do_v,
                               rows, br, np.empty((shape[0], 8)))
            want = [x if (k < 3 and do_u) or (k >= 3 and do_v) else 0.0
                    for k, x in enumerate(ref)]
            for a, b in zip(t[:7], want, strict=True):
                assert_close(a, b, dtype, scale=max(abs(b), 1.0))
            assert t[7] == (p2.min() if do_v else np.inf)


# (a2, tau, sigma, theta, tau_next, sigma_next) of two successive iterations
PAIR_STEPS = ((0.05, 0.1, 9.0, 0.9, 0.09, 11.0), (0.05, 0.09, 11.0, 0.8, 0.08, 13.0))


def _pd_state(rng, shape, dtype):
    """(vd, x, xbar, y1, y2) of a primal-dual iteration, with the dual's invariant."""
    vd, x, xb = (positive_field(rng, shape, dtype) for _ in range(3))
    y1, y2 = (positive_field(rng, shape, dtype, -0.3, 0.3) for _ in range(2))
    y1[-1, :] = 0  # the invariant of the dual (grad^T reads these as 0)
    y2[:, -1] = 0
    return vd, x, xb, y1, y2


@pytest.mark.parametrize("shape", SHAPES + [(40, 9)])
@pytest.mark.parametrize("kappa", [0.1, 0.05])
def test_pd_iteration(rng, shape, dtype, kappa):
    """One fused primal-dual iteration, with row blocks of 16 rows and of 3 rows."""
    vd, x, xb, y1, y2 = _pd_state(rng, shape, dtype)
    scal = (0.05, 0.1, 9.0, 0.9, 0.09, 11.0, kappa, 0.5)
    ref = R.pd_iteration(*(a.astype(np.float64) for a in (vd, x, xb, y1, y2)), *scal)
    for rows in (block_rows(shape[0]), 3):
        nblk = -(-shape[0] // rows)
        outs = [np.empty_like(vd) for _ in range(4)]
        scratch = [np.empty((nblk, shape[1]), dtype) for _ in range(2)]
        res = K.pd_iteration(vd, x, xb, y1, y2, *outs, *scratch, np.zeros(shape[1], dtype),
                             *scal, rows, np.empty((shape[0], 2)), np.inf)
        for a, b in zip(outs, ref[:4], strict=True):
            assert_close(a, b, dtype, scale=max(1.0, np.max(np.abs(b))))
        assert_close(res, ref[4], dtype)


@pytest.mark.parametrize("shape", SHAPES + [(1, 5), (2, 3), (40, 9), (33, 17)])
@pytest.mark.parametrize("rows", [1, 2, 3, 16])
def test_pd_pair_is_two_iterations(rng, shape, dtype, rows):
    """pd_pair: the same iterates as two pd_iteration calls, bit for bit, whatever the
    row blocks (its halo rows at every block border, the first and last image rows)."""
    vd, x, xb, y1, y2 = _pd_state(rng, shape, dtype)
    first, second = PAIR_STEPS
    kappa, eta = 0.1, 0.5
    h, w = shape
    nblk = -(-h // rows)
    scratch = [np.empty((nblk, w), dtype) for _ in range(2)]
    zero = np.zeros(w, dtype)
    mid, end, pair = ([np.empty_like(vd) for _ in range(4)] for _ in range(3))
    r1 = K.pd_iteration(vd, x, xb, y1, y2, *mid, *scratch, zero, *first, kappa, eta, rows,
                        np.empty((h, 2)), np.inf)
    r2 = K.pd_iteration(vd, *mid, *end, *scratch, zero, *second, kappa, eta, rows,
                        np.empty((h, 2)), np.inf)
    ring = np.empty((nblk, K.RING_ROWS, w), dtype)
    p1, p2 = K.pd_pair(vd, x, xb, y1, y2, *pair, *scratch, ring, zero, first[0], kappa, eta,
                       *first[1:], *second[1:], rows, np.empty((h, 4)), np.inf, np.inf)
    for a, b in zip(pair, end, strict=True):
        np.testing.assert_array_equal(a, b)
    # the residual's sums may round differently: each pass is compiled, vectorised and
    # summed on its own (float32 sums in float32)
    assert_close(p1, r1, dtype)
    assert_close(p2, r2, dtype)


@pytest.mark.parametrize("rows", [1, 3, 16])
def test_residual_stops_where_it_cannot_stop_the_loop(rng, dtype, rows):
    """``certain``: a row block stops summing the residual once its own rows reach it, and
    the kernel returns a lower bound, at least certain / N; the iterates do not change,
    and below the threshold the residual is the whole one."""
    shape = (13, 11)
    vd, x, xb, y1, y2 = _pd_state(rng, shape, dtype)
    first, second = PAIR_STEPS
    kappa, eta, n = 0.1, 0.5, vd.size
    nblk = -(-shape[0] // rows)
    scratch = [np.empty((nblk, shape[1]), dtype) for _ in range(2)]
    ring = np.empty((nblk, K.RING_ROWS, shape[1]), dtype)
    zero = np.zeros(shape[1], dtype)

    def single(certain):
        out = [np.empty_like(vd) for _ in range(4)]
        r = K.pd_iteration(vd, x, xb, y1, y2, *out, *scratch, zero, *first, kappa, eta,
                           rows, np.empty((shape[0], 2)), *certain)
        return (r,), out

    def pair(certain):
        out = [np.empty_like(vd) for _ in range(4)]
        r = K.pd_pair(vd, x, xb, y1, y2, *out, *scratch, ring, zero, first[0], kappa, eta,
                      *first[1:], *second[1:], rows, np.empty((shape[0], 4)), *certain)
        return r, out

    for run, k in ((single, 1), (pair, 2)):
        full, ref = run((np.inf,) * k)
        # some block's sum is at least the total over the number of blocks
        low = tuple(r * n / (2 * nblk) for r in full)
        for certain in (tuple(2 * r * n for r in full), low, (0.0,) * k,
                        (np.inf, low[-1])[-k:]):
            got, out = run(certain)
            for r, r_full, c in zip(got, full, certain, strict=True):
                if c > r_full * n:  # never reached: the whole residual
                    assert r == r_full
                else:  # a lower bound past the threshold (0: nothing summed)
                    assert min(c, r_full * n) / n <= r <= r_full * (1 + 1e-12)
            for a, b in zip(out, ref, strict=True):
                np.testing.assert_array_equal(a, b)


def _huber_prox(vd, a2, eta, kappa, pd_tol, pd_max_iter, floor=0.0, rows=4):
    """Run kernels.huber_prox with fresh buffers (cold dual); return (iterations, x,
    redone)."""
    shape, dtype = vd.shape, vd.dtype
    nblk = -(-shape[0] // rows)
    sets = [[np.empty(shape, dtype) for _ in range(4)] for _ in range(2)]
    scratch = [np.empty((nblk, shape[1]), dtype) for _ in range(2)]
    ring = np.empty((nblk, K.RING_ROWS, shape[1]), dtype)
    it, parity, redone = K.huber_prox(
        vd, a2, eta, kappa, pd_tol, pd_max_iter, 0, floor, False, *sets[0], *sets[1],
        *scratch, ring, np.zeros(shape[1], dtype), rows, np.empty((shape[0], 4)))
    return it, sets[parity][0], redone


@pytest.mark.parametrize("cap", [1, 2, 3, 4, 7])
def test_huber_prox_pairs_keep_single_iteration_counts(rng, cap):
    """Two iterations per pass, yet the iterations run and the result are those of one
    at a time: caps odd and even, and a tolerance met at the first of a pair."""
    shape, dtype = (12, 10), np.float64
    vd = positive_field(rng, shape, dtype)
    a2, eta, kappa = 0.02, 0.5, 0.1
    it, x, _ = _huber_prox(vd, a2, eta, kappa, 1e-30, cap)
    x_ref, _, it_ref = R.huber_prox(vd, a2, eta, kappa, 1e-30, cap)
    assert it == it_ref == cap
    assert_close(x, x_ref, dtype, scale=1.0)
    # tolerances that stop at each count from 1 to 19. The loop runs a pair unless the
    # residual, falling by its last ratio, would meet the tolerance at the next
    # iteration: a stop at the first iteration (no ratio yet) ends inside a pair, which
    # is thrown away and redone alone; once the ratios rise smoothly (here from the
    # fourth iteration on) no pair is thrown away
    for stop_at in range(1, 20):
        tol = _residual_after(vd, a2, eta, kappa, stop_at) * (1 + 1e-9)
        it, x, redone = _huber_prox(vd, a2, eta, kappa, tol, 100)
        x_ref, _, it_ref = R.huber_prox(vd, a2, eta, kappa, tol, 100)
        assert it == it_ref == stop_at
        assert_close(x, x_ref, dtype, scale=1.0)
        if stop_at == 1 or stop_at >= 5:
            assert redone == (stop_at == 1), stop_at


def test_huber_prox_floor_stops_at_floor_over_tau(rng, dtype):
    """``floor``: stop once the residual is below floor / tau_next (float32's rounding
    floor); 0 leaves the loop as it was."""
    shape = (12, 10)
    vd = positive_field(rng, shape, dtype)
    a2, eta, kappa = 0.02, 0.5, 0.1
    res = []
    R.huber_prox(vd.astype(np.float64), a2, eta, kappa, 1e-30, 40, record=res)

    def run(floor):
        return _huber_prox(vd, a2, eta, kappa, 1e-30, 40, floor=floor)[0]

    assert run(0.0) == 40
    # tau_next of iteration n (the loop's step sizes), and a floor met at iteration 7
    tau, g, taus = 0.99 / 8, 0.5 / a2, []
    for _ in range(40):
        tau = tau / np.sqrt(1 + 2 * g * tau)
        taus.append(tau)
    floor = res[6] * taus[6] * 1.001
    expected = next(n + 1 for n in range(40) if res[n] < floor / taus[n])
    assert run(floor) == expected <= 7


def _residual_after(vd, a2, eta, kappa, n):
    """The reference loop's residual at its n-th iteration."""
    res = []
    R.huber_prox(vd, a2, eta, kappa, 1e-30, n, record=res)
    return res[-1]


def test_huber_prox_loop_matches_reference(rng, dtype):
    """float64: the reference's iterations (423 to pd_tol 1e-6) and its result.

    float32: the residual has a rounding floor (rounding in x over a shrinking tau,
    docs/model.md 10), measured between 3e-5 and 1e-4 on this problem (pd_tol 1e-4 stops at 47
    iterations against the reference's 46, 3e-5 never stops), so at pd_tol 1e-6 the loop
    runs to its cap: the solver's plateau and floor rules, off here, are what stop it.
    x then matches the float64 reference run for the same 500 iterations to 1.5e-5, twice
    the 7.8e-6 measured: the rounding of the iterates accumulates about 1.6e-8 (0.13 ulp
    of max x ~ 2) per iteration, 6.7e-6 after 423 iterations, 1.8e-5 after 1000.
    """
    shape, cap = (9, 11), 500
    vd = positive_field(rng, shape, dtype)
    a2, eta, kappa = 0.02, 0.5, 0.1
    it, x, _ = _huber_prox(vd, a2, eta, kappa, 1e-6, cap)
    vd64 = vd.astype(np.float64)
    if dtype == np.float64:
        x_ref, _, it_ref = R.huber_prox(vd64, a2, eta, kappa, 1e-6, cap)
        assert it == it_ref == 423
        assert_close(x, x_ref, dtype, scale=1.0)
    else:
        assert it == cap
        x_ref, _, it_ref = R.huber_prox(vd64, a2, eta, kappa, 0.0, cap)  # never stops early
        assert it_ref == cap
        np.testing.assert_allclose(x, x_ref, rtol=0, atol=1.5e-5)
