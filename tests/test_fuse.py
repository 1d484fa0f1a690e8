"""The whole solver: test vectors, invariants, shapes, bad input, degenerate data."""

import numpy as np
import pytest

import fastosmosis
from fastosmosis import fuse
from tests import reference as R
from tests.conftest import DATA, TESTVECTORS, check_against_vector, load_vector, needs


@needs(TESTVECTORS)
@pytest.mark.parametrize("name", ["exact_cold_24x20", "exact_warm_24x20"])
def test_matches_independent_testvectors(name):
    warm = bool(load_vector(name)["warm_start"])
    r = check_against_vector(name, warm_start=warm)
    assert r.parameters["scheme"] == "exact"


@needs(TESTVECTORS)
def test_reference_ipiano_matches_testvector():
    """tests/reference.py is itself a faithful implementation of the spec."""
    d = load_vector("exact_warm_24x20")
    _, _, e, pd = R.ipiano(d["f"], d["b"], d["alpha"], eta=0.5, mu=100.0, gamma=1.0,
                           eps=0.05, max_iter=10, warm_start=True)
    np.testing.assert_array_equal(pd, d["pd_iterations"][:10])
    np.testing.assert_allclose(e, d["energies"][:10], rtol=1e-10)


def small_problem(rng, shape, channels=None):
    full = shape if channels is None else shape + (channels,)
    f = rng.uniform(0, 1, full)
    b = rng.uniform(0, 1, full)
    alpha = np.zeros(shape)
    alpha[:, : max(1, shape[1] // 2)] = 1.0
    return f, b, alpha


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_energy_never_increases(rng, dtype):
    f, b, alpha = small_problem(rng, (12, 10), 3)
    r = fuse(f, b, alpha, eta=0.5, max_iter=40, dtype=dtype)
    for e in r.energies:
        rise = np.diff(e) / e[:-1]
        # float64: never; float32: rounding of at most 1e-6 relative (docs/model.md 10)
        assert np.all(rise <= (0 if dtype == np.float64 else 1e-6)), rise.max()
        assert e[-1] < e[0]


def test_threads_do_not_change_the_result(rng):
    f, b, alpha = small_problem(rng, (40, 33), 1)
    r1 = fuse(f, b, alpha, eta=0.5, max_iter=15, threads=1)
    r2 = fuse(f, b, alpha, eta=0.5, max_iter=15, threads=2)
    np.testing.assert_array_equal(r1.u, r2.u)
    np.testing.assert_array_equal(r1.v, r2.v)
    np.testing.assert_array_equal(r1.energies[0], r2.energies[0])
    np.testing.assert_array_equal(r1.pd_iterations[0], r2.pd_iterations[0])


def test_threads_restored(rng):
    import numba

    before = numba.get_num_threads()
    f, b, alpha = small_problem(rng, (6, 6))
    fuse(f, b, alpha, max_iter=2, threads=1)
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (2, 2), (7, 6), (8, 5)])
@pytest.mark.parametrize("channels", [None, 3])
def test_shapes_grey_and_rgb(rng, shape, channels):
    f, b, alpha = small_problem(rng, shape, channels)
    r = fuse(f, b, alpha, max_iter=8)
    assert r.u.shape == f.shape and r.v.shape == f.shape
    assert r.u.dtype == np.float64
    assert len(r.energies) == (1 if channels is None else 3)
    assert all(np.all(np.isfinite(e)) for e in r.energies)
    assert all(len(p) == n for p, n in zip(r.pd_iterations, r.iterations, strict=True))


def test_alpha_2d_equals_alpha_3d(rng):
    f, b, alpha = small_problem(rng, (9, 8), 3)
    r2 = fuse(f, b, alpha, max_iter=6)
    r3 = fuse(f, b, np.repeat(alpha[..., None], 3, axis=2), max_iter=6)
    np.testing.assert_array_equal(r2.u, r3.u)


def test_channels_are_independent_problems(rng):
    f, b, alpha = small_problem(rng, (9, 8), 3)
    rgb = fuse(f, b, alpha, max_iter=6)
    grey = fuse(f[..., 1], b[..., 1], alpha, max_iter=6)
    np.testing.assert_array_equal(rgb.u[..., 1], grey.u)


def test_uint8_and_uint16_inputs(rng):
    f, b, alpha = small_problem(rng, (6, 7))
    f8, b8 = (np.round(x * 255).astype(np.uint8) for x in (f, b))
    r8 = fuse(f8, b8, alpha, max_iter=4)
    rf = fuse(f8 / 255.0, b8 / 255.0, alpha, max_iter=4)
    np.testing.assert_array_equal(r8.u, rf.u)
    f16 = (f8.astype(np.uint16) * 257)
    r16 = fuse(f16, b8.astype(np.uint16) * 257, alpha, max_iter=4)
    np.testing.assert_allclose(r16.u, rf.u, atol=1e-12)


def test_result_fields_and_callback(rng):
    f, b, alpha = small_problem(rng, (8, 8), 3)
    calls = []

    def cb(channel, iteration, energy):
        calls.append((channel, iteration, energy))
        return not (channel == 1 and iteration == 3)

    r = fuse(f, b, alpha, max_iter=5, callback=cb, solver="ipiano")
    assert r.stop_reasons == ["max_iter", "callback", "max_iter"]
    assert r.iterations == [5, 3, 5]
    # channels side by side (or not): each channel's calls in order
    for c, n in enumerate(r.iterations):
        mine = [x for x in calls if x[0] == c]
        assert [x[1] for x in mine] == list(range(1, n + 1))
        assert [x[2] for x in mine] == r.energies[c].tolist()
    assert len(r.channel_seconds) == 3 and r.seconds >= max(r.channel_seconds)
    calls.clear()
    r1 = fuse(f, b, alpha, max_iter=5, callback=cb, solver="ipiano", threads=1)
    assert r1.parameters["workers"] == 1  # one thread: one channel after the other
    assert [c[:2] for c in calls[:6]] == [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 1)]
    assert r1.seconds >= sum(r1.channel_seconds)
    np.testing.assert_array_equal(r1.u, r.u)
    assert r.parameters["warm_start"] is True and r.parameters["scheme"] == "exact"


def test_energy_function_matches_result(rng):
    f, b, alpha = small_problem(rng, (9, 7), 3)
    kw = dict(eta=0.3, mu=50.0, gamma=2.0, epsilon=0.1)
    r = fuse(f, b, alpha, max_iter=6, **kw)
    e = fastosmosis.energy(r.u, r.v, f, b, alpha, **kw)
    np.testing.assert_allclose(e, [x[-1] for x in r.energies], rtol=1e-12)


def test_inits(rng):
    f, b, alpha = small_problem(rng, (8, 8))
    alpha[0, 0] = 0.5
    for init in ("foreground", "blend", "mean"):
        r = fuse(f, b, alpha, init=init, max_iter=3, solver="ipiano")
        assert r.iterations == [3]
    e_fg = fuse(f, b, alpha, max_iter=1, solver="ipiano").energies[0][0]
    e_mean = fuse(f, b, alpha, init="mean", max_iter=1, solver="ipiano").energies[0][0]
    assert e_fg != e_mean


def test_eta_zero_runs_no_primal_dual(rng):
    f, b, alpha = small_problem(rng, (8, 9))
    r = fuse(f, b, alpha, eta=0.0, max_iter=10, solver="ipiano")
    assert np.all(r.pd_iterations[0] == 0)
    assert r.energies[0][-1] < r.energies[0][0]


def test_float32_working_precision(rng):
    f, b, alpha = small_problem(rng, (10, 9))
    r32 = fuse(f, b, alpha, max_iter=10, dtype=np.float32)
    r64 = fuse(f, b, alpha, max_iter=10)
    assert r32.u.dtype == np.float32
    assert np.max(np.abs(r32.u - r64.u)) < 1e-3


# ---------------------------------------------------------------- bad input
GOOD = dict(foreground=np.full((4, 5), 0.5), background=np.full((4, 5), 0.25),
            alpha=np.ones((4, 5)) * 0.5)


def call(**changes):
    args = {**GOOD}
    kwargs = {k: v for k, v in changes.items() if k not in args}
    args.update({k: v for k, v in changes.items() if k in args})
    return fuse(args["foreground"], args["background"], args["alpha"], **kwargs)


nan = np.full((4, 5), 0.5)
nan[1, 1] = np.nan
inf = np.full((4, 5), 0.5)
inf[0, 0] = np.inf


@pytest.mark.parametrize("changes, word", [
    (dict(background=np.ones((4, 6))), "background"),
    (dict(alpha=np.ones((3, 5))), "alpha"),
    (dict(alpha=np.ones((4, 5, 2))), "alpha"),
    (dict(foreground=nan), "foreground"),
    (dict(background=inf), "background"),
    (dict(alpha=nan), "alpha"),
    (dict(alpha=np.full((4, 5), 1.5)), "alpha"),
    (dict(alpha=np.full((4, 5), -0.1)), "alpha"),
    (dict(foreground=-np.ones((4, 5))), "foreground"),
    (dict(foreground=np.ones((0, 5)), background=np.ones((0, 5)), alpha=np.ones((0, 5))),
     "foreground"),
    (dict(foreground=np.ones(5)), "foreground"),
    (dict(init="median"), "init"),
    (dict(scheme="fast"), "scheme"),
    (dict(epsilon=0.0), "epsilon"),
    (dict(mu=-1.0), "mu"),
    (dict(tol=0), "tol"),
    (dict(offset=0.0), "offset"),
    (dict(eta=-0.1), "eta"),
    (dict(gamma=-1.0), "gamma"),
    (dict(max_iter=0), "max_iter"),
    (dict(pd_tol=-1.0), "pd_tol"),
    (dict(dtype=np.int32), "dtype"),
    (dict(threads=0), "threads"),
    (dict(alpha_blur=-2.0), "alpha_blur"),
    (dict(init="mean", alpha=np.zeros((4, 5))), "init"),
    (dict(init="mean", alpha=np.ones((4, 5))), "init"),
    (dict(init="mean", alpha=np.full((4, 5), 0.5), alpha_blur=1.0), "not all 0"),
    (dict(init="mean", alpha=np.ones((4, 5)), alpha_blur=1.0), "not all 1"),
])
def test_bad_input_raises_value_error_naming_it(changes, word):
    with pytest.raises(ValueError, match=word):
        call(**changes)


@pytest.mark.parametrize("changes, word", [
    (dict(foreground=np.ones((4, 5), dtype=bool)), "foreground"),
    (dict(background=np.ones((4, 5), dtype=np.int32)), "background"),
    (dict(alpha=np.array([["a"] * 5] * 4)), "alpha"),
    (dict(init=3), "init"),
    (dict(scheme=None), "scheme"),
    (dict(eta="0.1"), "eta"),
    (dict(max_iter=2.5), "max_iter"),
    (dict(dtype="not a dtype"), "dtype"),
    (dict(callback=3), "callback"),
    (dict(warm_start="yes"), "warm_start"),
    (dict(multiscale=1), "multiscale"),
    (dict(threads=1.5), "threads"),
])
def test_a_wrong_type_raises_type_error_naming_it(changes, word):
    """scikit-image's convention: TypeError for a wrong type, ValueError for a value."""
    with pytest.raises(TypeError, match=word):
        call(**changes)


def test_bad_input_fails_before_any_work():
    calls = []
    with pytest.raises(ValueError):
        fuse(GOOD["foreground"], GOOD["background"], GOOD["alpha"], mu=0.0,
             callback=lambda *a: calls.append(a))
    assert calls == []


# ---------------------------------------------------------------- degenerate data
def test_constant_image_stops_with_zero_energy():
    c = np.full((6, 7, 3), 0.4)
    r = fuse(c, c, np.full((6, 7), 0.5), max_iter=50, solver="ipiano")
    assert r.stop_reasons == ["zero energy"] * 3
    np.testing.assert_allclose(r.u, c)


def test_identical_images_finish(rng):
    f = rng.uniform(0, 1, (8, 9))
    r = fuse(f, f, np.full((8, 9), 0.3), eta=0.5, max_iter=500)
    assert r.stop_reasons[0] in ("stationarity", "rounding floor")
    assert np.all(np.isfinite(r.u))
    assert np.max(np.abs(r.u - f)) < 0.05


# ---------------------------------------------------------------- real examples
@needs(DATA)
def test_faces_reduced_keeps_foreground_where_alpha_is_one():
    import imageio.v3 as iio

    f = iio.imread(DATA / "4_foreground.png")[::4, ::4]
    b = iio.imread(DATA / "4_background.png")[::4, ::4]
    a = iio.imread(DATA / "4_alpha.png")[::4, ::4] / 255.0
    r = fuse(f, b, a, eta=0.1, mu=100.0, gamma=1.0)
    assert set(r.stop_reasons) == {"stationarity"}
    keep = a == 1
    assert np.mean(np.abs(r.u - f / 255.0)[keep]) < 0.01
    for e in r.energies:
        assert e[-1] < e[0]
    # where alpha = 0 the result follows the background's structure, not f
    hole = a == 0
    assert np.mean(np.abs(r.u - f / 255.0)[hole]) > 0.05


@pytest.mark.slow
@needs(DATA)
def test_puppets_reproduces_model_section_8():
    import imageio.v3 as iio

    f = iio.imread(DATA / "1_foreground.png")
    b = iio.imread(DATA / "1_background.png")
    a = iio.imread(DATA / "1_alpha.png")
    r = fuse(f, b, a, eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, solver="ipiano")
    assert r.iterations == [143, 159, 153]
    assert r.final_energy == pytest.approx(19065.618, abs=5e-4)
    assert abs(sum(int(p.sum()) for p in r.pd_iterations) - 6822) <= 70


def test_stationarity_helper_falls_as_the_solver_runs(rng):
    from tests.stationarity import stationarity

    f, b, alpha = small_problem(rng, (12, 11), 3)
    kw = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)
    short = fuse(f, b, alpha, max_iter=3, **kw)
    long = fuse(f, b, alpha, max_iter=200, **kw)
    s_short = stationarity(short.u, short.v, f, b, alpha, **kw)
    s_long = stationarity(long.u, long.v, f, b, alpha, **kw)
    assert all(0 < b_ < a_ < 1 for a_, b_ in zip(s_short, s_long, strict=True))
    # at the start itself the ratio is exactly 1
    w = (f + 1) ** alpha[..., None] * (b + 1) ** (1 - alpha[..., None])
    np.testing.assert_allclose(stationarity(f, w - 1, f, b, alpha, **kw), 1.0, rtol=1e-12)


def test_explicit_v_step_reaches_the_same_fixed_point(rng):
    """v_step="explicit" (docs/model.md 9): no primal-dual loop, the same minimiser."""
    f, b, alpha = small_problem(rng, (14, 13), 1)
    kw = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, tol=1e-12, max_iter=3000,
              solver="ipiano")
    prox = fuse(f, b, alpha, **kw)
    expl = fuse(f, b, alpha, v_step="explicit", **kw)
    assert expl.parameters["v_step"] == "explicit"
    assert np.all(expl.pd_iterations[0] == 0)
    assert np.all(np.diff(expl.energies[0]) <= 0)
    assert expl.energies[0][-1] == pytest.approx(prox.energies[0][-1], rel=1e-6)
    np.testing.assert_allclose(expl.u, prox.u, atol=2e-3)
    with pytest.raises(ValueError, match="v_step"):
        fuse(f, b, alpha, v_step="implicit")


def test_gtol_stops_at_the_stationarity_asked_for(rng):
    from tests.stationarity import stationarity

    f, b, alpha = small_problem(rng, (16, 15), 3)
    kw = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)
    r = fuse(f, b, alpha, v_step="explicit", gtol=1e-2, tol=1e-300, solver="ipiano", **kw)
    assert r.stop_reasons == ["stationarity"] * 3
    measured = stationarity(r.u, r.v, f, b, alpha, **kw)
    for s, m in zip(r.stationarity, measured, strict=True):
        assert s[-1] <= 1e-2
        assert m == pytest.approx(s[-1], rel=1e-8)
        assert np.all(s[:-1] > 1e-2)
    # with the prox the driver's figure is the same exact quantity
    p = fuse(f, b, alpha, max_iter=7, solver="ipiano", **kw)
    np.testing.assert_allclose([s[-1] for s in p.stationarity],
                               stationarity(p.u, p.v, f, b, alpha, **kw), rtol=1e-8)
    with pytest.raises(ValueError, match="gtol"):
        fuse(f, b, alpha, scheme="paper", gtol=1e-3)


def test_pd_tol_rel_loosens_early_prox_calls_only(rng):
    """pd_tol_rel: fewer primal-dual iterations, the same end point, pd_tol as floor."""
    f, b, alpha = small_problem(rng, (20, 18), 1)
    kw = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, max_iter=60, tol=1e-300,
              solver="ipiano")
    fixed = fuse(f, b, alpha, **kw)
    tied = fuse(f, b, alpha, pd_tol_rel=1e-1, **kw)
    assert tied.parameters["pd_tol_rel"] == 1e-1
    pd_fixed, pd_tied = fixed.pd_iterations[0], tied.pd_iterations[0]
    assert pd_tied.sum() < pd_fixed.sum()
    assert pd_tied[0] < pd_fixed[0]  # the first call stops at 0.1 instead of 1e-4
    assert tied.stationarity[0][-1] < 1e-2
    np.testing.assert_allclose(tied.u, fixed.u, atol=1e-3)
    # a factor so small that pd_tol is always the larger one changes nothing
    floor = fuse(f, b, alpha, pd_tol_rel=1e-12, **kw)
    np.testing.assert_array_equal(floor.pd_iterations[0], pd_fixed)
    np.testing.assert_array_equal(floor.u, fixed.u)
    with pytest.raises(ValueError, match="pd_tol_rel"):
        fuse(f, b, alpha, pd_tol_rel=-1.0)
    with pytest.raises(ValueError, match="pd_tol_rel"):
        fuse(f, b, alpha, scheme="paper", pd_tol_rel=1e-2, solver="ipiano")


def test_mean_init_check_does_not_blur(rng, monkeypatch):
    """The init="mean" check reads alpha == 1 unblurred; each channel is blurred once."""
    import fastosmosis._problem as problem

    f, b, alpha = small_problem(rng, (9, 8), 3)
    alpha = alpha[..., None].repeat(3, axis=2)
    blurs = []
    real = problem.gaussian_filter
    monkeypatch.setattr(problem, "gaussian_filter", lambda x, s: blurs.append(s) or real(x, s))
    fuse(f, b, alpha, init="mean", alpha_blur=1.5, max_iter=1)
    assert blurs == [1.5] * 3


@pytest.mark.parametrize("init", ["foreground", "blend", "mean"])
def test_preparation_in_bands_equals_whole_channel(rng, monkeypatch, init):
    """Channels are prepared a band of rows at a time (memory); the bands do not show."""
    import fastosmosis._problem as problem

    f, b, alpha = small_problem(rng, (11, 7), 3)
    alpha[3, 2] = 0.25
    whole = fuse(f, b, alpha, init=init, alpha_blur=None, max_iter=3)
    monkeypatch.setattr(problem, "PREP_ROWS", 4)
    banded = fuse(f, b, alpha, init=init, max_iter=3)
    np.testing.assert_allclose(banded.u, whole.u, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(banded.energies[0], whole.energies[0], rtol=1e-13)
    blurred = fuse(f, b, alpha, init=init, alpha_blur=1.5, max_iter=2)
    monkeypatch.setattr(problem, "PREP_ROWS", 256)
    np.testing.assert_allclose(fuse(f, b, alpha, init=init, alpha_blur=1.5, max_iter=2).u,
                               blurred.u, rtol=1e-13, atol=1e-13)


@needs(DATA)
def test_v_stays_positive_from_a_bad_start():
    """The energy is defined for v > 0 only: a v-step that leaves it is rejected.

    Found with a coarse-to-fine start (the puppets' green channel solved at half
    resolution and upsampled): the first explicit v-step went below 0, the osmosis term
    v |grad(u/v)|^2 then is unbounded below, and every descent test accepted on the way
    to an energy of -1e143.
    """
    import imageio.v3 as iio
    from scipy.ndimage import zoom

    from fastosmosis._driver import solve_channel
    from fastosmosis.model import Model, SolverOptions

    f, b, a = (iio.imread(DATA / f"1_{k}.png")[..., 1] / 255.0
               for k in ("foreground", "background", "alpha"))
    model = Model(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, osm=1.0)
    options = SolverOptions.resolve(solver="ipiano", tol=1e-6, pd_tol=1e-4, pd_max_iter=10000,
                                    v_step="explicit", max_iter=60)

    def problem(f, b, a):
        f, b = f + 1.0, b + 1.0
        w = f**a * b ** (1 - a)
        return [np.ascontiguousarray(x) for x in (f, a, w, f.copy(), w.copy())]

    def half(x):
        x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
        return 0.25 * (x[::2, ::2] + x[1::2, ::2] + x[::2, 1::2] + x[1::2, 1::2])

    coarse = solve_channel(*problem(half(f), half(b), half(a)), model, options)
    fine = problem(f, b, a)
    scale = (f.shape[0] / coarse.u.shape[0], f.shape[1] / coarse.u.shape[1])
    fine[3] = np.ascontiguousarray(zoom(coarse.u, scale, order=1))
    fine[4] = np.ascontiguousarray(zoom(coarse.v, scale, order=1))
    sol = solve_channel(*fine, model, options)
    assert sol.v.min() > 0
    assert np.all(np.isfinite(sol.energies)) and sol.energies[-1] > 0
    assert np.all(np.diff(sol.energies) <= 0)


def test_multiscale_start(rng):
    """multiscale=True: a half-resolution solve starts each channel; same model, same
    stopping rule, stationarity still relative to the ordinary start."""
    from tests.stationarity import stationarity

    t = np.linspace(0, 3, 40)
    yy, xx = np.meshgrid(t, t[:37], indexing="ij")
    f = np.stack([0.5 + 0.3 * np.sin(xx + k) * np.cos(yy) for k in range(3)], axis=2)
    b = np.stack([0.5 + 0.3 * np.cos(2 * xx - k) for k in range(3)], axis=2)
    alpha = (xx < 1.5).astype(float)
    kw = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, v_step="explicit", gtol=1e-3,
              solver="ipiano")
    cold = fuse(f, b, alpha, **kw)
    warm = fuse(f, b, alpha, multiscale=True, **kw)
    assert warm.parameters["multiscale"] is True
    assert warm.stop_reasons == ["stationarity"] * 3
    measured = stationarity(warm.u, warm.v, f, b, alpha, **{k: kw[k] for k in
                                                             ("eta", "mu", "gamma",
                                                              "epsilon")})
    np.testing.assert_allclose(measured, [s[-1] for s in warm.stationarity], rtol=1e-8)
    assert max(measured) <= 1e-3
    assert sum(warm.iterations) < sum(cold.iterations)
    # both are stationary to 1e-3, not converged: close on average, not pixel by pixel
    assert np.mean(np.abs(warm.u - cold.u)) < 0.02
    # too small for a coarse level: the ordinary start, the same result
    small = (f[:10, :9], b[:10, :9], alpha[:10, :9])
    np.testing.assert_array_equal(fuse(*small, multiscale=True, max_iter=5).u,
                                  fuse(*small, max_iter=5).u)
    with pytest.raises(TypeError, match="multiscale"):
        fuse(f, b, alpha, multiscale="yes")


@pytest.mark.parametrize("regularizer", ["huber-tv", "tikhonov"])
def test_multiscale_keeps_the_stationarity_reference(rng, regularizer):
    """With a coarse start the stationarity is still relative to (u0, v0) = (f, w)."""
    from tests.stationarity import stationarity

    f, b, alpha = small_problem(rng, (34, 36), 1)
    kw = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, regularizer=regularizer)
    r = fuse(f, b, alpha, multiscale=True, max_iter=4, **kw)
    np.testing.assert_allclose(r.stationarity[0][-1],
                               stationarity(r.u, r.v, f, b, alpha, **kw)[0], rtol=1e-8)


def test_float32_inputs_give_a_float32_result(rng):
    """scikit-image's convention: the result's type follows float32 inputs, unless dtype
    says otherwise; anything else works in float64."""
    f, b, alpha = small_problem(rng, (12, 10), 3)
    f32, b32 = f.astype(np.float32), b.astype(np.float32)
    r = fuse(f32, b32, alpha, max_iter=4)
    assert r.u.dtype == np.float32 and r.v.dtype == np.float32
    assert r.parameters["dtype"] == "float32"
    same = fuse(f32, b32, alpha, max_iter=4, dtype=np.float32)
    np.testing.assert_array_equal(r.u, same.u)  # the same computation as asking for it
    assert fuse(f32, b32, alpha, max_iter=4, dtype=np.float64).u.dtype == np.float64
    assert fuse(f32, b, alpha, max_iter=4).u.dtype == np.float64  # mixed: float64
    assert fuse((f * 255).astype(np.uint8), b, alpha, max_iter=4).u.dtype == np.float64
    e = fastosmosis.energy(r.u, r.v, f32, b32, alpha)
    np.testing.assert_allclose(e, [x[-1] for x in r.energies], rtol=1e-6)


def test_channel_axis_moves_the_channels(rng):
    f, b, alpha = small_problem(rng, (12, 10), 3)
    alpha3 = np.repeat(alpha[..., None], 3, axis=2)
    last = fuse(f, b, alpha3, max_iter=4)
    first = fuse(np.moveaxis(f, -1, 0), np.moveaxis(b, -1, 0), np.moveaxis(alpha3, -1, 0),
                 max_iter=4, channel_axis=0)
    assert first.u.shape == (3, 12, 10) and first.parameters["channel_axis"] == 0
    np.testing.assert_array_equal(np.moveaxis(first.u, 0, -1), last.u)
    np.testing.assert_array_equal(np.moveaxis(first.v, 0, -1), last.v)
    e = fastosmosis.energy(first.u, first.v, np.moveaxis(f, -1, 0), np.moveaxis(b, -1, 0),
                           np.moveaxis(alpha3, -1, 0), channel_axis=0)
    np.testing.assert_allclose(e, [x[-1] for x in last.energies], rtol=1e-12)
    grey = fuse(f[..., 0], b[..., 0], alpha, max_iter=4, channel_axis=0)  # 2-D: grey
    assert grey.u.shape == (12, 10)
    with pytest.raises(TypeError, match="channel_axis"):
        fuse(f, b, alpha, channel_axis=1.0)
    with pytest.raises(ValueError, match="channel_axis"):
        fuse(f, b, alpha, channel_axis=3)
