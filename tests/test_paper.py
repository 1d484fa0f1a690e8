"""The paper scheme (docs/model.md 6) and the smooth regularisers: kernels and solver."""

import numpy as np
import pytest

import fastosmosis.kernels as K
from fastosmosis import fuse
from tests import reference as R
from tests.conftest import (
    DATA,
    TESTVECTORS,
    assert_close,
    check_against_vector,
    load_vector,
    needs,
    positive_field,
)


def test_osmosis_matrix_reference_is_the_stencil(rng):
    """The assembled sparse A equals the stencil of item 1 written out at one pixel."""
    u, v = positive_field(rng, (4, 5)), positive_field(rng, (4, 5))
    au = (R.osmosis_matrix(v) @ u.ravel()).reshape(u.shape)
    i, j = 2, 3
    d = lambda a, b: 2 * (b - a) / (b + a)  # noqa: E731
    lap = 4 * u[i, j] - u[i + 1, j] - u[i - 1, j] - u[i, j + 1] - u[i, j - 1]
    expected = (lap + d(v[i, j], v[i + 1, j]) * (u[i + 1, j] + u[i, j]) / 2
                - d(v[i - 1, j], v[i, j]) * (u[i, j] + u[i - 1, j]) / 2
                + d(v[i, j], v[i, j + 1]) * (u[i, j + 1] + u[i, j]) / 2
                - d(v[i, j - 1], v[i, j]) * (u[i, j] + u[i, j - 1]) / 2)
    assert au[i, j] == pytest.approx(expected, rel=1e-14)
    # a constant image is not a steady state unless v is constant, but A 1 sums to 0
    assert np.sum(R.osmosis_matrix(v) @ np.ones(u.size)) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("kind", [1, 2], ids=["tikhonov", "huber"])
def test_paper_gradients(rng, shape, dtype, kind):
    u, v, w, f = (positive_field(rng, shape, dtype) for _ in range(4))
    alpha = positive_field(rng, shape, dtype, 0.0, 1.0)
    gu, gv = np.empty_like(u), np.empty_like(u)
    terms = K.paper_gradients(u, v, w, f, alpha, 1.2, 100.0, 2.0, 0.05, kind, gu, gv,
                              np.empty((shape[0], 4)))
    u64, v64, w64, f64, a64 = (x.astype(np.float64) for x in (u, v, w, f, alpha))
    assert_close(gu, R.paper_gu(u64, v64, v64, 1.2), dtype)
    assert_close(gv, R.paper_gv(u64, v64, w64, 1.2, 100.0), dtype)
    # the energy's terms, as energy_terms gives them
    ref = R.energy_terms(u64, v64, w64, f64, a64, 1.2, 100.0, 2.0, 0.05, kind)
    for a, b in zip(terms, ref, strict=True):
        assert_close(a, b, dtype, scale=max(abs(b), 1.0))


def test_paper_descent_tests(rng, shape, dtype):
    u, v, va, w, p1, p2 = (positive_field(rng, shape, dtype) for _ in range(6))
    part = np.empty((shape[0], 8))
    u64, v64, va64, w64, p164, p264 = (x.astype(np.float64) for x in (u, v, va, w, p1, p2))
    ru = R.paper_u_test(p164, u64, v64, va64, w64, 1.0, 100.0)
    rv = R.paper_v_test(u64, v64, p264, w64, 1.0, 100.0)
    unused = np.full_like(u, np.nan)  # read by no loop while use_gu, use_gv are False
    for do_u, do_v in ((True, True), (True, False), (False, True)):
        got = K.paper_tests(p1, p2, u, v, va, w, unused, unused, 1.0, 100.0, do_u, do_v,
                            False, False, part)
        part_u = (ru[0], ru[2], ru[3]) if do_u else (0.0,) * 3
        part_v = (rv[0], rv[2], rv[3]) if do_v else (0.0,) * 3
        want = (ru[1], *part_u, *part_v)
        for a, b in zip(got[:7], want, strict=True):
            assert_close(a, b, dtype, scale=max(abs(b), 1.0))
        assert got[7] == (p2.min() if do_v else np.inf)
    assert ru[1] == pytest.approx(rv[1])  # both tests share S(u, v)


def test_paper_tests_read_the_gradients_they_would_compute(rng, shape, dtype):
    """use_gu / use_gv (no block has moved since paper_gradients): the tests read gu and
    gv instead of computing them, and give the same numbers up to rounding (each loop is
    compiled, vectorised and summed on its own)."""
    u, v, w, p1, p2 = (positive_field(rng, shape, dtype) for _ in range(5))
    part = np.empty((shape[0], 8))
    gu, gv = np.empty_like(u), np.empty_like(u)
    K.paper_gradients(u, v, w, w, w, 1.3, 100.0, 1.0, 0.05, 2, gu, gv, part)
    computed = K.paper_tests(p1, p2, u, v, v, w, gu, gv, 1.3, 100.0, True, True, False,
                             False, part)
    for use_gu, use_gv in ((True, True), (True, False), (False, True)):
        read = K.paper_tests(p1, p2, u, v, v, w, gu, gv, 1.3, 100.0, True, True, use_gu,
                             use_gv, part)
        assert_close(read, computed, dtype, scale=max(abs(x) for x in computed))


@pytest.mark.parametrize("kind", [1, 2], ids=["tikhonov", "huber"])
def test_regularizer_kernels(rng, shape, dtype, kind):
    v, p = positive_field(rng, shape, dtype), positive_field(rng, shape, dtype)
    gv = positive_field(rng, shape, dtype, -1, 1)
    before = gv.astype(np.float64)
    part = np.empty((shape[0], 4))
    r = K.reg_gradient_add(v, kind, 0.7, 0.05, gv, part)
    v64, p64 = v.astype(np.float64), p.astype(np.float64)
    assert_close(gv, before + 0.7 * R.regularizer_gradient(v64, kind, 0.05), dtype,
                 scale=max(1.0, np.max(np.abs(before))))
    assert_close(r, R.regularizer(v64, kind, 0.05), dtype, scale=max(1.0, abs(r)))
    got = K.reg_descent(v, p, kind, 0.05, part)
    ref = (R.regularizer(p64, kind, 0.05), R.regularizer(v64, kind, 0.05),
           np.sum(R.regularizer_gradient(v64, kind, 0.05) * (p64 - v64)))
    for a, b in zip(got, ref, strict=True):
        assert_close(a, b, dtype, scale=max(abs(b), 1.0))


@pytest.mark.parametrize("kind", [1, 2], ids=["tikhonov", "huber"])
def test_regularizer_gradient_matches_finite_differences(rng, kind):
    shape = (5, 4)
    v = positive_field(rng, shape, low=1.0, high=1.5)
    g = np.zeros(shape)
    K.reg_gradient_add(v, kind, 1.0, 0.05, g, np.empty((5, 4)))
    h = 1e-6
    for idx in np.ndindex(shape):
        e = np.zeros(shape)
        e[idx] = h
        fd = (R.regularizer(v + e, kind, 0.05) - R.regularizer(v - e, kind, 0.05)) / (2 * h)
        assert g[idx] == pytest.approx(fd, rel=1e-6, abs=1e-6)


@needs(TESTVECTORS)
def test_paper_scheme_matches_testvector():
    r = check_against_vector("paper_24x20", scheme="paper")
    assert r.parameters["warm_start"] is False


@needs(TESTVECTORS)
def test_reference_paper_ipiano_matches_testvector():
    d = load_vector("paper_24x20")
    _, _, e, pd = R.ipiano(d["f"], d["b"], d["alpha"], eta=0.5, mu=100.0, gamma=1.0,
                           eps=0.05, max_iter=8, scheme="paper")
    np.testing.assert_array_equal(pd, d["pd_iterations"][:8])
    np.testing.assert_allclose(e, d["energies"][:8], rtol=1e-10)


def test_paper_scheme_float32_runs(rng):
    f, b = rng.uniform(0, 1, (10, 12)), rng.uniform(0, 1, (10, 12))
    a = np.zeros((10, 12))
    a[:, :6] = 1
    r32 = fuse(f, b, a, scheme="paper", dtype=np.float32, max_iter=10)
    r64 = fuse(f, b, a, scheme="paper", max_iter=10)
    assert np.max(np.abs(r32.u - r64.u)) < 1e-3


@pytest.mark.parametrize("scheme", ["exact", "paper"])
def test_tikhonov_runs_no_primal_dual_and_descends(rng, scheme):
    f, b = rng.uniform(0, 1, (11, 9, 3)), rng.uniform(0, 1, (11, 9, 3))
    a = np.zeros((11, 9))
    a[:, :4] = 1
    r = fuse(f, b, a, scheme=scheme, regularizer="tikhonov", eta=0.5, max_iter=30)
    assert r.parameters["regularizer"] == "tikhonov"
    for e, pd in zip(r.energies, r.pd_iterations, strict=True):
        assert np.all(pd == 0)
        assert e[-1] < e[0]
        if scheme == "exact":
            assert np.all(np.diff(e) <= 0)
    import fastosmosis

    e = fastosmosis.energy(r.u, r.v, f, b, a, eta=0.5, regularizer="tikhonov")
    np.testing.assert_allclose(e, [x[-1] for x in r.energies], rtol=1e-12)


def _total_variation(v):
    """sum |grad v| with the forward differences of docs/model.md 2."""
    g1 = np.diff(v, axis=0, append=v[-1:])
    g2 = np.diff(v, axis=1, append=v[:, -1:])
    return float(np.sum(np.hypot(g1, g2)))


def test_regularizer_changes_the_result(rng):
    """Huber-TV and Tikhonov give different minimisers, each the better one under its
    own energy. Both runs reach the stationarity 1e-7 (6 outer iterations of "bcd"), so
    the gaps are those of the minima: measured 0.1106 in the Huber-TV energy, 0.1110 in
    the Tikhonov one (iPiano to stationarity 1.4e-3 gives them within 0.1%). Huber-TV,
    steeper than t^2 / 2 for the gradients here (t - eps / 2 > t^2 / 2 for 0.025 < t <
    1.97; the median |grad w| is 0.51), ends with the flatter v: total variation 47.74
    against 48.58; the two v differ by at most 0.0093.
    """
    import fastosmosis

    f, b = rng.uniform(0, 1, (10, 10)), rng.uniform(0, 1, (10, 10))
    a = np.zeros((10, 10))
    a[:, :5] = 1
    h = fuse(f, b, a, eta=0.5, max_iter=10)
    t = fuse(f, b, a, eta=0.5, max_iter=10, regularizer="tikhonov")
    assert h.stop_reasons == t.stop_reasons == ["stationarity"]

    def energy(r, regularizer):
        return fastosmosis.energy(r.u, r.v, f, b, a, eta=0.5, regularizer=regularizer)[0]

    assert energy(t, "huber-tv") - energy(h, "huber-tv") == pytest.approx(0.1106, rel=0.01)
    assert energy(h, "tikhonov") - energy(t, "tikhonov") == pytest.approx(0.1110, rel=0.01)
    assert _total_variation(h.v) == pytest.approx(47.74, abs=0.01)
    assert _total_variation(t.v) == pytest.approx(48.58, abs=0.01)
    assert np.max(np.abs(h.v - t.v)) == pytest.approx(0.0093, abs=2e-4)
    with pytest.raises(ValueError, match="regularizer"):
        fuse(f, b, a, regularizer="tv")


PUBLISHED = {1: (8.1756e3, 41), 2: (7.8428e3, 43), 3: (7.6414e3, 45), 4: (7.5607e3, 39),
             5: (7.5221e3, 41), 10: (7.4452e3, 28)}


@needs(DATA)
def test_published_run_first_ten_iterations_of_channel_one():
    """docs/model.md 7: the authors' log for the red channel of the puppets example."""
    import imageio.v3 as iio

    f = iio.imread(DATA / "1_foreground.png")[..., 0]
    b = iio.imread(DATA / "1_background.png")[..., 0]
    a = iio.imread(DATA / "1_alpha.png")[..., 0]
    r = fuse(f, b, a, scheme="paper", eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05,
             max_iter=10)
    for n, (energy, pd) in PUBLISHED.items():
        assert float(f"{r.energies[0][n - 1]:.4e}") == energy
        assert r.pd_accepted[0][n - 1] == pd
    # iteration 1's eight calls: 133 + 116 + 99 + 84 + 71 + 60 + 50 + 41
    assert r.pd_iterations[0][0] == 654


@pytest.mark.slow
@needs(DATA)
def test_published_run_iteration_counts():
    import imageio.v3 as iio

    f, b, a = (iio.imread(DATA / f"1_{k}.png") for k in ("foreground", "background",
                                                          "alpha"))
    r = fuse(f, b, a, scheme="paper", eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)
    assert r.iterations == [132, 170, 175]
    assert r.stop_reasons == ["tolerance"] * 3
