"""The default solver: block coordinate descent with the multigrid u-solve (docs/model.md 11)."""

import numpy as np
import pytest

from fastosmosis import fuse
from fastosmosis import kernels as K
from fastosmosis._bcd import solve_channel_bcd
from fastosmosis._driver import STOP_STATIONARITY, block_rows
from fastosmosis._multigrid import Hierarchy, USolver, dense_matrix, level_shapes
from fastosmosis._problem import channel_problem
from fastosmosis.model import GTOL, Model, SolverOptions
from fastosmosis.validation import prepare
from tests import reference as R
from tests.conftest import DATA, RTOL, assert_close, needs, positive_field
from tests.stationarity import stationarity

MG_SHAPES = [(1, 40), (40, 1), (2, 2), (17, 24), (33, 31), (64, 48)]


def u_problem(rng, shape, dtype=np.float64, density=0.3):
    """A random u-block problem: positive v, f, u, and an alpha that is 0 on most pixels."""
    v, f, u = (positive_field(rng, shape, dtype) for _ in range(3))
    alpha = np.ascontiguousarray(rng.uniform(0, 1, shape) * (rng.uniform(0, 1, shape)
                                                            < density), dtype=dtype)
    alpha.flat[0] = 1.0  # at least one pixel with alpha > 0
    return u, v, alpha, f


@pytest.mark.parametrize("shape", MG_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_operator_matches_sparse_matrix(rng, shape, dtype):
    u, v, alpha, f = u_problem(rng, shape, dtype)
    x, c, b, d = (np.empty(shape, dtype) for _ in range(4))
    K.u_system(u, v, alpha, f, dtype(1.5), dtype(0.7), x, c, b, d)
    A = R.u_block_matrix(v.astype(np.float64), alpha.astype(np.float64), 1.5, 0.7)
    assert_close(d, A.diagonal().reshape(shape), dtype)
    assert_close(b, 0.7 * alpha * v * f, dtype)
    assert_close(x, u / v, dtype)
    out = np.empty(shape, dtype)
    xv = x.astype(np.float64).ravel()
    quad = K.apply_dot(x, v, v, dtype(1.5), d, out, np.empty((shape[0], 2)))
    assert_close(out, (A @ xv).reshape(shape), dtype)
    assert quad == pytest.approx(xv @ (A @ xv), rel=RTOL[dtype] * 10)
    res = np.empty(shape, dtype)
    K.residual(b, x, v, v, dtype(1.5), d, res)
    assert_close(res, b - out, dtype, scale=np.abs(b).max() + np.abs(out).max())
    assert_close(dense_matrix(v, v, 1.5, d), A.toarray(), dtype)


@pytest.mark.parametrize("fine", [(1, 9), (9, 1), (2, 2), (5, 8), (8, 5), (7, 7)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_restriction_is_the_adjoint_of_prolongation(rng, fine, dtype):
    coarse = ((fine[0] + 1) // 2, (fine[1] + 1) // 2)
    c = positive_field(rng, coarse, dtype)
    x = positive_field(rng, fine, dtype)
    pc = np.zeros(fine, dtype)
    K.prolong_add(c, pc)
    rx = np.empty(coarse, dtype)
    K.restrict(x, rx)
    lhs = np.sum(pc.astype(np.float64) * x)
    assert lhs == pytest.approx(np.sum(c.astype(np.float64) * rx), rel=RTOL[dtype] * 10)
    # rows of P sum to 1: the prolongation of a constant is that constant
    ones = np.zeros(fine, dtype)
    K.prolong_add(np.ones(coarse, dtype), ones)
    assert_close(ones, np.ones(fine), dtype)


def test_prolongation_is_bilinear_between_cell_centres():
    coarse = np.arange(12, dtype=np.float64).reshape(3, 4)
    fine = np.zeros((6, 8))
    K.prolong_add(coarse, fine)
    # fine cell (2, 3) lies at coarse (0.75, 1.25): 3/4 of rows 1, 1/4 of row 0, ...
    expect = 0.75 * (0.75 * coarse[1, 1] + 0.25 * coarse[1, 2]) \
        + 0.25 * (0.75 * coarse[0, 1] + 0.25 * coarse[0, 2])
    assert fine[2, 3] == pytest.approx(expect)
    # the corners extrapolate constantly (Neumann)
    assert fine[0, 0] == coarse[0, 0] and fine[5, 7] == coarse[2, 3]
    # a linear function is reproduced in the interior
    ii, jj = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    lin = np.zeros((6, 8))
    K.prolong_add((2.0 * ii + 3.0 * jj).astype(np.float64), lin)
    fi, fj = np.meshgrid((np.arange(6) - 0.5) / 2, (np.arange(8) - 0.5) / 2, indexing="ij")
    np.testing.assert_allclose(lin[1:-1, 1:-1], (2 * fi + 3 * fj)[1:-1, 1:-1])


@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (6, 7), (13, 10)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("block_rows", [1, 2, 5, 100])
def test_gauss_seidel_sweep_matches_its_definition(rng, shape, block_rows):
    """One pass = a half-sweep of each colour, in either order, from x or from 0, for
    any row blocks (the wavefront within a block, one row per block after)."""
    u, v, alpha, f = u_problem(rng, shape)
    x, c, b, d = (np.empty(shape) for _ in range(4))
    K.u_system(u, v, alpha, f, 1.0, 1.0, x, c, b, d)
    A = R.u_block_matrix(v, alpha, 1.0, 1.0).toarray()
    colours = np.add.outer(np.arange(shape[0]), np.arange(shape[1])).ravel() % 2
    for first, zero in ((0, False), (1, False), (0, True)):
        expect = np.zeros(x.size) if zero else x.ravel().copy()
        for color in (first, 1 - first):
            for k in np.flatnonzero(colours == color):
                expect[k] = (b.ravel()[k] - A[k] @ expect + A[k, k] * expect[k]) / A[k, k]
        out = x.copy()
        if zero:
            out[...] = np.nan  # only written
        K.sweep(out, b, v, v, 1.0, d, first, zero, block_rows,
                np.empty((-(-shape[0] // block_rows), shape[1])))
        np.testing.assert_allclose(out.ravel(), expect, rtol=1e-13)


def test_level_shapes_halve_to_the_coarsest():
    assert level_shapes((563, 800)) == [(563, 800), (282, 400), (141, 200), (71, 100),
                                        (36, 50), (18, 25), (9, 13)]
    assert level_shapes((1, 1)) == [(1, 1)]
    assert level_shapes((1, 1000))[-1] == (1, 250)


@pytest.mark.parametrize("shape", MG_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("coarsest", [1, 16])
def test_linear_solve_matches_scipy_direct_solve(rng, shape, coarsest, dtype):
    u, v, alpha, f = u_problem(rng, shape, dtype)
    expect = R.u_block_minimiser(u.astype(np.float64), v.astype(np.float64),
                                 f.astype(np.float64), alpha.astype(np.float64), 1.0, 1.0)
    solver = USolver(shape, dtype, coarsest=coarsest)
    target = 1e-12 if dtype == np.float64 else 1e-5
    info = solver.solve(u, v, alpha, f, osm=1.0, gamma=1.0, target=target, max_iter=200)
    assert info.final <= target or dtype == np.float32
    err = np.abs(u - expect).max() / np.abs(expect).max()
    assert err <= (1e-10 if dtype == np.float64 else 2e-4), err
    # the residual it reports is that of the system
    A = R.u_block_matrix(v.astype(np.float64), alpha.astype(np.float64), 1.0, 1.0)
    r = (u / v).astype(np.float64).ravel()
    res = (1.0 * alpha * v * f).astype(np.float64).ravel() - A @ r
    if dtype == np.float64:
        assert np.linalg.norm(res / v.ravel()) <= 10 * target


def puppets_channel(rows, cols):
    import imageio.v3 as iio

    f, b, a = (np.ascontiguousarray(iio.imread(DATA / f"1_{k}.png")[rows, cols, 0] / 255.0)
               for k in ("foreground", "background", "alpha"))
    f, b = f + 1.0, b + 1.0
    return f.copy(), np.ascontiguousarray(f**a * b ** (1 - a)), a, f


@pytest.mark.parametrize("problem, bound", [("random", 0.2), ("puppets", 0.35)])
def test_convergence_factor_per_iteration_on_256x256(rng, problem, bound):
    """Preconditioned CG reduces ||dE/du|| by a mean factor per iteration of 0.15 on a
    random problem (alpha > 0 on 30% of the pixels; 0.13-0.17 from 37 x 50 to 563 x 800)
    and 0.27 on a 256 x 256 crop of the puppets' red channel with alpha = 0 on 87% of
    it (0.19-0.27 over three such crops), from u = f and v = w."""
    shape = (256, 256)
    if problem == "random":
        u, v, alpha, f = u_problem(rng, shape)
    else:
        if not (DATA / "1_foreground.png").exists():
            pytest.skip("no puppets example")
        u, v, alpha, f = puppets_channel(slice(300, 556), slice(0, 256))
    solver = USolver(shape, np.float64)
    info = solver.solve(u, v, alpha, f, osm=1.0, gamma=1.0, target=0.0, max_iter=10)
    history = np.array([info.start] + info.history)
    factor = (history[-1] / history[0]) ** (1 / 10)
    assert factor <= bound, f"mean convergence factor {factor:.3f} per iteration"
    assert np.all(history[1:] < history[:-1])


def test_vcycle_is_a_symmetric_preconditioner(rng):
    shape = (21, 18)
    u, v, alpha, f = u_problem(rng, shape)
    x, c, b, d = (np.empty(shape) for _ in range(4))
    H = Hierarchy(shape, np.float64, coarsest=4)
    K.u_system(u, v, alpha, f, 1.0, 1.0, x, c, b, d)
    np.copyto(H.d0, d)
    H.update(v, 1.0, c)
    n = shape[0] * shape[1]
    M = np.empty((n, n))
    scratch = np.empty(shape)
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        out = np.empty(shape)
        H.vcycle(np.ascontiguousarray(e.reshape(shape)), out, scratch)
        M[:, k] = out.ravel()
    np.testing.assert_allclose(M, M.T, atol=1e-12 * np.abs(M).max())
    assert np.linalg.eigvalsh(0.5 * (M + M.T)).min() > 0


def crop(prefix, rows, cols):
    import imageio.v3 as iio

    f, b, a = (iio.imread(DATA / f"{prefix}_{k}.png") for k in ("foreground", "background",
                                                                "alpha"))
    a = a if a.ndim == 2 else a[..., 0]
    return f[rows, cols], b[rows, cols], a[rows, cols] / 255.0


PUPPETS = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)
FACES = dict(eta=0.1, mu=100.0, gamma=1.0, epsilon=0.05, alpha_blur=5.0)


def check_accuracy(f, b, a, model):
    r = fuse(f, b, a, **model)
    assert r.parameters["solver"] == "bcd"
    assert all(reason == STOP_STATIONARITY for reason in r.stop_reasons)
    assert max(s[-1] for s in r.stationarity) <= 1e-6
    # the helper of tests/stationarity.py, independent of the kernels, agrees
    assert max(stationarity(r.u, r.v, f, b, a, **model)) <= 1e-6
    assert R.psnr(r.u, R.minimiser_of(f, b, a, **model)) >= 50.0
    return r


@needs(DATA / "1_foreground.png")
def test_default_reaches_the_minimiser_on_a_puppets_crop():
    check_accuracy(*crop("1", slice(250, 314), slice(200, 280)), PUPPETS)


@needs(DATA / "4_foreground.png")
def test_default_reaches_the_minimiser_on_a_faces_crop():
    check_accuracy(*crop("4", slice(150, 214), slice(200, 280)), FACES)


@pytest.mark.slow
@needs(DATA / "1_foreground.png")
@pytest.mark.parametrize("prefix, model", [("1", PUPPETS), ("4", FACES)],
                         ids=["puppets", "faces"])
def test_default_reaches_the_minimiser_on_the_full_examples(prefix, model):
    r = check_accuracy(*crop(prefix, slice(None), slice(None)), model)
    assert max(r.iterations) <= 12


def test_energy_decreases_monotonically(rng):
    f, b = positive_field(rng, (30, 26, 3), low=0, high=1), \
        positive_field(rng, (30, 26, 3), low=0, high=1)
    alpha = (rng.uniform(0, 1, (30, 26)) > 0.5).astype(float)
    for dtype, slack in ((np.float64, 1e-12), (np.float32, 1e-6)):
        r = fuse(f, b, alpha, eta=0.5, dtype=dtype, v_step="explicit")
        for e in r.energies:
            assert np.all(np.diff(e) <= slack * np.abs(e[:-1])), np.diff(e)
        r = fuse(f, b, alpha, eta=0.5, dtype=dtype, v_step="prox")
        for e in r.energies:
            assert np.all(np.diff(e) <= 1e-6 * np.abs(e[:-1]))


def test_results_do_not_depend_on_the_thread_count(rng):
    shape = (70, 45, 3)
    f, b = positive_field(rng, shape, low=0, high=1), positive_field(rng, shape, low=0, high=1)
    alpha = (rng.uniform(0, 1, shape[:2]) > 0.4).astype(float)
    r1 = fuse(f, b, alpha, eta=0.5, threads=1)
    r2 = fuse(f, b, alpha, eta=0.5, threads=2)
    np.testing.assert_array_equal(r1.u, r2.u)
    np.testing.assert_array_equal(r1.v, r2.v)
    assert r1.linear_iterations[0].tolist() == r2.linear_iterations[0].tolist()


@needs(DATA / "1_foreground.png")
def test_solver_settings_land_within_50_db_of_each_other():
    """From the same start, the default stationarity makes the result independent of
    the cycle settings (sweeps, coarsest level, forcing, v-steps per u-solve)."""
    f, b, a = crop("1", slice(250, 314), slice(200, 280))
    fi, bi, ai, _ = prepare(f, b, a)
    problem = channel_problem(fi, bi, ai, 0, init="foreground", offset=1.0,
                               alpha_blur=None, dtype=np.float64)
    model = Model(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, osm=1.0)
    options = SolverOptions.resolve(max_iter=100)
    runs = [solve_channel_bcd(*(x.copy() for x in problem), model, options, **opts).u
            for opts in ({}, {"v_steps": 1}, {"forcing": 0.01}, {"coarsest": 4},
                         {"v_steps": 5, "forcing": 0.3})]
    for u in runs[1:]:
        assert R.psnr(u - 1, runs[0] - 1) >= 50.0


def test_v_descent_matches_energy_differences(rng, dtype):
    shape = (9, 11)
    u, v, w, f, gv = (positive_field(rng, shape, dtype) for _ in range(5))
    alpha = positive_field(rng, shape, dtype, 0, 1)
    p = np.ascontiguousarray(v + 0.05 * rng.standard_normal(shape), dtype=dtype)
    rpb = block_rows(shape[0])
    rows = np.empty((-(-shape[0] // rpb), 4, shape[1]))
    model = dict(osm=1.0, mu=100.0, gamma=0.0, eps=0.05, eta=0.5)
    for kind in (R.HUBER, R.TIKHONOV):
        de, ip, sq, vmin = K.v_descent(u, v, p, w, gv, 1.0, 100.0, 0.5, 0.05, kind, rows, rpb,
                                       np.empty((shape[0], 8)))
        u64, v64, p64, w64 = (x.astype(np.float64) for x in (u, v, p, w))
        expect = np.sum(R.energy_map(u64, p64, w64, f, alpha, **model, kind=kind)
                        - R.energy_map(u64, v64, w64, f, alpha, **model, kind=kind))
        assert de == pytest.approx(expect, rel=1e-12, abs=1e-12)
        assert ip == pytest.approx(np.sum(gv.astype(np.float64) * (p64 - v64)), rel=1e-12)
        assert sq == pytest.approx(np.sum((p64 - v64) ** 2), rel=1e-12)
        assert vmin == p.min()


@pytest.mark.parametrize("case", ["gamma zero", "alpha zero"])
def test_singular_u_block_keeps_the_closest_multiple_of_v(rng, case):
    """With gamma = 0 or alpha = 0 everywhere, r = u / v is free up to one constant:
    the solver takes u = c v with c = <u, v> / <v, v>, and converges."""
    shape = (12, 14)
    f, b = positive_field(rng, shape, low=0, high=1), positive_field(rng, shape, low=0, high=1)
    alpha = np.zeros(shape) if case == "alpha zero" else rng.uniform(0, 1, shape)
    gamma = 0.0 if case == "gamma zero" else 1.0
    r = fuse(f, b, alpha, eta=0.5, gamma=gamma)
    assert r.stop_reasons == [STOP_STATIONARITY]
    ratio = (r.u + 1) / (r.v + 1)  # u = c v for the v before the last v-steps
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-6)
    # the first u-block takes the multiple of v0 = w closest to u0 = f (the v-steps
    # after it leave u as it is)
    w = (f + 1) ** alpha * (b + 1) ** (1 - alpha)
    c0 = np.sum((f + 1) * w) / np.sum(w * w)
    first = fuse(f, b, alpha, eta=0.5, gamma=gamma, max_iter=1)
    np.testing.assert_allclose(first.u + 1, c0 * w, rtol=1e-12)
    assert max(stationarity(r.u, r.v, f, b, alpha, eta=0.5, mu=100.0, gamma=gamma,
                            epsilon=0.05)) <= GTOL * 1.01


def test_constant_image_and_single_pixel():
    c = np.full((6, 7), 0.4)
    r = fuse(c, c, np.full((6, 7), 0.5))
    assert r.stop_reasons == [STOP_STATIONARITY] and r.iterations == [0]
    np.testing.assert_allclose(r.u, c, rtol=1e-15)
    one = fuse(np.array([[0.2]]), np.array([[0.7]]), np.array([[0.5]]), eta=0.5,
               init="blend")
    assert one.stop_reasons == [STOP_STATIONARITY] and one.iterations == [1]
    # one pixel has no differences: the u-block's minimiser is f, and v stays at w
    assert one.u[0, 0] == pytest.approx(0.2, rel=1e-12)
    assert one.v[0, 0] + 1 == pytest.approx(np.sqrt(1.2 * 1.7), rel=1e-12)


def test_solver_option_validation(rng):
    f = positive_field(rng, (5, 6), low=0, high=1)
    with pytest.raises(ValueError, match="solver"):
        fuse(f, f, np.ones((5, 6)), solver="newton")
    with pytest.raises(ValueError, match="solver"):
        fuse(f, f, np.ones((5, 6)), solver="bcd", scheme="paper")
    with pytest.raises(ValueError, match="pd_tol_rel"):
        fuse(f, f, np.ones((5, 6)), pd_tol_rel=0.1)
    r = fuse(f, f, np.ones((5, 6)), scheme="paper", max_iter=2)
    assert r.parameters["solver"] == "ipiano" and r.parameters["tol"] == 1e-6
    r = fuse(f, f, np.ones((5, 6)))
    assert r.parameters["solver"] == "bcd" and r.parameters["gtol"] == GTOL
    assert r.parameters["v_step"] == "explicit" and r.parameters["tol"] is None


def test_a_problem_too_large_for_the_memory_is_refused_first(rng, monkeypatch):
    import fastosmosis._memory as memory
    import fastosmosis.api as api
    from fastosmosis import InsufficientMemoryError, memory_needed

    f = positive_field(rng, (40, 50, 3), low=0, high=1)
    need = memory_needed(f.shape, np.float64)
    assert need == 40 * 50 * 8 * (12 + 2 * 3)
    assert memory_needed(f.shape, np.float32) == need // 2
    monkeypatch.setattr(memory, "available_memory", lambda: need - 1)
    calls = []
    real = api.solve
    monkeypatch.setattr(api, "solve", lambda *a, **k: calls.append(a) or real(*a, **k))
    with pytest.raises(InsufficientMemoryError, match=r"memory: a 40 x 50 x 3 problem "
                       r"needs about .* GB .* available; dtype=float32 needs about"):
        fuse(f, f, np.ones((40, 50)))
    assert calls == []
    with pytest.raises(ValueError):  # the CLI reports it as one line, exit status 2
        fuse(f, f, np.ones((40, 50)))
    monkeypatch.setattr(memory, "available_memory", lambda: need)
    fuse(f, f, np.ones((40, 50)), max_iter=1)
    assert len(calls) == 3


def test_return_v_false_keeps_u_and_saves_the_v_image(rng):
    from fastosmosis import memory_needed

    f, b = positive_field(rng, (9, 8, 3), low=0, high=1), positive_field(rng, (9, 8, 3),
                                                                         low=0, high=1)
    alpha = rng.uniform(0, 1, (9, 8))
    full = fuse(f, b, alpha, eta=0.5)
    lean = fuse(f, b, alpha, eta=0.5, return_v=False)
    assert lean.v is None
    np.testing.assert_array_equal(lean.u, full.u)
    assert memory_needed(f.shape, np.float64) - memory_needed(f.shape, np.float64,
                                                              return_v=False) == 9 * 8 * 8 * 3
    assert memory_needed(f.shape, np.float64, "ipiano", prox=True) \
        == memory_needed(f.shape, np.float64, prox=True) - 9 * 8 * 8
    with pytest.raises(TypeError, match="return_v"):
        fuse(f, b, alpha, return_v="no")


def test_callback_sees_every_outer_iteration_and_can_stop_a_channel(rng):
    f, b = positive_field(rng, (20, 18, 2), low=0, high=1), positive_field(rng, (20, 18, 2),
                                                                           low=0, high=1)
    alpha = (rng.uniform(0, 1, (20, 18)) > 0.5).astype(float)
    seen = []

    def cb(channel, iteration, energy):
        seen.append((channel, iteration, energy))
        return not (channel == 0 and iteration == 2)

    r = fuse(f, b, alpha, eta=0.5, callback=cb)
    assert r.stop_reasons[0] == "callback" and r.iterations[0] == 2
    assert r.stop_reasons[1] == STOP_STATIONARITY
    assert [e for c, _, e in seen if c == 1] == list(r.energies[1])
    assert [i for c, i, _ in seen if c == 1] == list(range(1, r.iterations[1] + 1))


@pytest.mark.parametrize("dtype_", [np.float64, np.float32])
def test_nearly_singular_u_block_still_converges(rng, dtype_):
    """alpha > 0 on one pixel only, and tiny there: A is singular to rounding, and the
    u-block keeps the multiple of v closest to u (the solve would set the constant by
    rounding noise: u / v went to 1278 in float64); alpha = 1 on that pixel is solved."""
    shape = (40, 37)
    f, b = positive_field(rng, shape, low=0, high=1), positive_field(rng, shape, low=0, high=1)
    alpha = np.zeros(shape)
    alpha[5, 7] = 1e-30
    r = fuse(f, b, alpha, eta=0.5, dtype=dtype_)
    assert np.all(np.isfinite(r.u)) and np.all(np.isfinite(r.v))
    assert r.stop_reasons[0] in (STOP_STATIONARITY, "rounding floor")
    assert np.all(r.linear_iterations[0] == 0)  # the singular rule, no solve
    assert abs(np.mean((r.u + 1) / (r.v + 1)) - 1) < 0.1
    for e in r.energies:
        assert np.all(np.diff(e) <= 1e-6 * np.abs(e[:-1]))
    alpha[5, 7] = 1.0
    r = fuse(f, b, alpha, eta=0.5, dtype=dtype_)
    assert r.linear_iterations[0].sum() > 0
    assert r.u[5, 7] == pytest.approx(f[5, 7], abs=1e-3)


@pytest.mark.parametrize("options", [dict(eta=0.0), dict(regularizer="tikhonov"),
                                     dict(v_step="prox"), dict(init="mean"),
                                     dict(multiscale=True)],
                         ids=["eta0", "tikhonov", "prox", "mean", "multiscale"])
def test_every_option_reaches_the_default_stationarity(rng, options):
    """The solver's options all end at the stationarity asked for, as measured by the
    independent helper of tests/stationarity.py."""
    t = np.linspace(0, 3, 36)
    yy, xx = np.meshgrid(t, t[:33], indexing="ij")
    f = np.stack([0.5 + 0.3 * np.sin(xx + k) * np.cos(yy) for k in range(2)], axis=2)
    b = np.stack([0.5 + 0.3 * np.cos(2 * xx - k) for k in range(2)], axis=2)
    alpha = (xx < 1.5).astype(float)
    model = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)
    model.update({k: v for k, v in options.items() if k == "eta"})
    extra = {k: v for k, v in options.items() if k != "eta"}
    r = fuse(f, b, alpha, **model, **extra)
    assert r.stop_reasons == [STOP_STATIONARITY] * 2
    measured = stationarity(r.u, r.v, f, b, alpha, **model,
                            init=extra.get("init", "foreground"),
                            regularizer=extra.get("regularizer", "huber-tv"))
    assert max(measured) <= 1.01 * GTOL, measured


def test_memory_estimate_covers_the_solver_arrays():
    """memory_needed's 12 work images: the channel problem's five (f, alpha, w, u, v)
    and the u-solver's own (four CG vectors, the diagonal, the coarse levels: 7.02,
    the 0.02 of row scratch left out of the estimate)."""
    from fastosmosis._memory import WORK_IMAGES

    shape = (563, 800)
    solver = USolver(shape, np.float64)
    image = 563 * 800 * 8
    assert abs(5 + solver.nbytes / image - WORK_IMAGES["bcd"]) <= 0.05
