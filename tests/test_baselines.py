"""Baselines: direct matting, Poisson image editing, linear osmosis."""

import numpy as np
import pytest

from fastosmosis.baselines import direct_matting, linear_osmosis, poisson


def _rng(seed=0):
    return np.random.default_rng(seed)


def _images(shape=(9, 7, 3), seed=0):
    rng = _rng(seed)
    f = rng.uniform(0.05, 1.0, shape)
    b = rng.uniform(0.05, 1.0, shape)
    return f, b


def _disc_alpha(H, W, centre, radius):
    """1 outside a disc, 0 inside, 0.5 on a ring at its edge."""
    i, j = np.mgrid[:H, :W]
    r = np.hypot(i - centre[0], j - centre[1])
    return np.where(r < radius, 0.0, np.where(r < radius + 1.5, 0.5, 1.0))


# ---------------------------------------------------------------------------
# validation, shared by the three


@pytest.mark.parametrize("method", [direct_matting, poisson, linear_osmosis])
def test_bad_input_names_the_argument(method):
    f, b = _images()
    alpha = np.ones(f.shape[:2])
    with pytest.raises(ValueError, match="^background:"):
        method(f, b[:-1], alpha)
    with pytest.raises(ValueError, match="^foreground:"):
        method(np.where(f > 0.5, np.nan, f), b, alpha)
    with pytest.raises(ValueError, match="^background:"):
        method(f, np.where(b > 0.5, np.inf, b), alpha)
    with pytest.raises(ValueError, match="^foreground:"):
        method(-f, b, alpha)
    with pytest.raises(ValueError, match="^alpha:"):
        method(f, b, alpha * 1.5)
    with pytest.raises(ValueError, match="^alpha:"):
        method(f, b, -alpha)
    with pytest.raises(ValueError, match="^alpha:"):
        method(f, b, alpha[:, :-1])
    with pytest.raises(ValueError, match="^foreground:"):
        method(f[..., 0, None, None], b, alpha)
    with pytest.raises(TypeError, match="^foreground:.*dtype"):
        method((f * 9).astype(np.int64), b, alpha)
    with pytest.raises(TypeError, match="^alpha:.*dtype"):
        method(f, b, alpha > 0.5)


def test_direct_matting_formula_grey_colour_and_uint8():
    f, b = _images()
    rng = _rng(1)
    a2 = rng.uniform(0, 1, f.shape[:2])
    a3 = rng.uniform(0, 1, f.shape)
    a = a2[..., None]
    np.testing.assert_allclose(direct_matting(f, b, a2), a * f + (1 - a) * b)
    np.testing.assert_allclose(direct_matting(f, b, a3), a3 * f + (1 - a3) * b)
    np.testing.assert_allclose(direct_matting(f[..., 0], b[..., 0], a2),
                               a2 * f[..., 0] + (1 - a2) * b[..., 0])
    f8 = (f * 255).astype(np.uint8)
    a8 = (a2 * 255).astype(np.uint8)
    u = direct_matting(f8, b, a8)
    assert u.dtype == np.float64
    a = (a8 / 255)[..., None]
    np.testing.assert_allclose(u, a * (f8 / 255) + (1 - a) * b)


# ---------------------------------------------------------------------------
# Poisson


def _poisson_lstsq(f, b, region, mixed=False):
    """Independent solve of one channel: the variational form, u = argmin of
    sum over 4-neighbour edges (p, q) touching R of (u_p - u_q - g_pq)^2 with u = f off R,
    by dense least squares."""
    H, W = f.shape
    if not region.any():
        return f.copy()
    idx = -np.ones((H, W), dtype=int)
    idx[region] = np.arange(region.sum())
    rows, rhs = [], []
    for i in range(H):
        for j in range(W):
            for i2, j2 in ((i + 1, j), (i, j + 1)):
                if i2 >= H or j2 >= W or not (region[i, j] or region[i2, j2]):
                    continue
                g = b[i, j] - b[i2, j2]
                if mixed and abs(f[i, j] - f[i2, j2]) > abs(g):
                    g = f[i, j] - f[i2, j2]
                row = np.zeros(region.sum())
                val = g
                if region[i, j]:
                    row[idx[i, j]] += 1
                else:
                    val -= f[i, j]
                if region[i2, j2]:
                    row[idx[i2, j2]] -= 1
                else:
                    val += f[i2, j2]
                rows.append(row)
                rhs.append(val)
    x = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    u = f.copy()
    u[region] = x
    return u


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("centre", [(4, 3), (0, 0), (8, 6)], ids=["inside", "corner", "edge"])
def test_poisson_matches_independent_solve(centre, mixed):
    f, b = _images((9, 7, 3), seed=2)
    alpha = _disc_alpha(9, 7, centre, 2.5)
    u = poisson(f, b, alpha, mixed=mixed)
    region = alpha < 0.5
    assert region.any() and not region.all()
    for c in range(3):
        ref = _poisson_lstsq(f[..., c], b[..., c], region, mixed=mixed)
        np.testing.assert_allclose(u[..., c], ref, rtol=0, atol=1e-11)
    # outside R the result is f, bit for bit
    assert np.array_equal(u[~region], f[~region])


def test_poisson_reproduces_a_shifted_source_and_obeys_threshold():
    # b = f + constant: the gradients agree, so seamless cloning gives back f
    f, _ = _images((8, 10, 3), seed=3)
    alpha = _disc_alpha(8, 10, (3, 4), 3)
    np.testing.assert_allclose(poisson(f, f + 0.3, alpha), f, atol=1e-12)
    # threshold 0.75 takes the 0.5 ring into R as well (39 of R's 64 pixels): the
    # independent solve on that R, where the ring moves from f by 0.32 on average (up to
    # 0.93); 0.25 takes only the disc and leaves the ring f, bit for bit
    _, b = _images((8, 10, 3), seed=4)
    wide = poisson(f, b, alpha, threshold=0.75)
    narrow = poisson(f, b, alpha, threshold=0.25)
    ring = alpha == 0.5
    for c in range(3):
        np.testing.assert_allclose(wide[..., c],
                                   _poisson_lstsq(f[..., c], b[..., c], alpha < 0.75),
                                   rtol=0, atol=1e-11)
        np.testing.assert_allclose(narrow[..., c],
                                   _poisson_lstsq(f[..., c], b[..., c], alpha < 0.25),
                                   rtol=0, atol=1e-11)
    assert np.abs(wide - f)[ring].mean() == pytest.approx(0.324, abs=1e-3)
    assert np.array_equal(wide[alpha == 1], f[alpha == 1])
    assert np.array_equal(narrow[alpha > 0], f[alpha > 0])


def test_poisson_grey_per_channel_regions_and_degenerate_regions():
    f, b = _images((7, 6, 3), seed=5)
    a = np.ones((7, 6, 3))
    a[1:4, 1:4, 0] = 0
    a[3:6, 2:5, 2] = 0  # channel 1 has no region: it stays f
    u = poisson(f, b, a)
    for c in range(3):
        np.testing.assert_allclose(u[..., c], poisson(f[..., c], b[..., c], a[..., c]), atol=0)
        np.testing.assert_allclose(u[..., c],
                                   _poisson_lstsq(f[..., c], b[..., c], a[..., c] < 0.5),
                                   atol=1e-11)
    assert np.array_equal(u[..., 1], f[..., 1])
    assert np.array_equal(poisson(f, b, np.ones((7, 6))), f)
    with pytest.raises(ValueError, match="^alpha:.*whole image"):
        poisson(f, b, np.zeros((7, 6)))
    # a 1 x N strip
    a1 = np.ones((1, 6))
    a1[0, 2:4] = 0
    np.testing.assert_allclose(poisson(f[:1, :, 0], b[:1, :, 0], a1),
                               _poisson_lstsq(f[:1, :, 0], b[:1, :, 0], a1 < 0.5), atol=1e-12)


# ---------------------------------------------------------------------------
# linear osmosis


def _steady_state_residual(u, d1, d2):
    """||Lap u - div(d u)|| / max(||Lap u||, ||div(d u)||), by plain NumPy, with
    half-grid drifts d1 (H-1 x W), d2 (H x W-1) and zero flux across the border."""
    def flux_div(g1, g2):
        H, W = u.shape
        out = np.zeros((H, W))
        out[:-1, :] += g1
        out[1:, :] -= g1
        out[:, :-1] += g2
        out[:, 1:] -= g2
        return out

    lap = flux_div(np.diff(u, axis=0), np.diff(u, axis=1))
    div = flux_div(d1 * (u[1:, :] + u[:-1, :]) / 2, d2 * (u[:, 1:] + u[:, :-1]) / 2)
    r = np.linalg.norm(lap - div)
    return r / max(np.linalg.norm(lap), np.linalg.norm(div))


def _drifts(v):
    return (2 * np.diff(v, axis=0) / (v[1:, :] + v[:-1, :]),
            2 * np.diff(v, axis=1) / (v[:, 1:] + v[:, :-1]))


def test_linear_osmosis_steady_state_and_mass():
    f, b = _images((11, 9, 3), seed=6)
    alpha = _disc_alpha(11, 9, (5, 4), 2.5)
    u = linear_osmosis(f, b, alpha)
    a = alpha
    one, zero = a >= 1 - 1e-6, a <= 1e-6
    for c in range(3):
        df1, df2 = _drifts(f[..., c] + 1)
        db1, db2 = _drifts(b[..., c] + 1)
        d1 = np.where(one[1:] & one[:-1], df1,
                      np.where(zero[1:] & zero[:-1], db1, (df1 + db1) / 2))
        d2 = np.where(one[:, 1:] & one[:, :-1], df2,
                      np.where(zero[:, 1:] & zero[:, :-1], db2, (df2 + db2) / 2))
        assert _steady_state_residual(u[..., c] + 1, d1, d2) < 1e-8
        mass = np.mean(a * (f[..., c] + 1) + (1 - a) * (b[..., c] + 1))
        assert np.mean(u[..., c] + 1) == pytest.approx(mass, rel=1e-13)
    # it is not the trivial answer: the disc really takes b's structure
    assert np.abs(u - f)[alpha == 0].max() > 0.05


def test_linear_osmosis_known_steady_state():
    # f + 1 and b + 1 = 3 (f + 1) have the same drift grad log (f + 1) everywhere, so the
    # steady state is (f + 1) scaled to the blend's mass, whatever alpha is
    rng = _rng(7)
    f = rng.uniform(0, 1, (10, 8, 3))
    b = 3 * f + 2
    alpha = rng.uniform(0, 1, (10, 8))
    alpha[:3] = 1
    alpha[-3:] = 0
    u = linear_osmosis(f, b, alpha)
    for c in range(3):
        v = f[..., c] + 1
        mass = np.mean(alpha * v + (1 - alpha) * (b[..., c] + 1))
        np.testing.assert_allclose(u[..., c] + 1, mass / v.mean() * v, rtol=1e-11)


@pytest.mark.parametrize("shape", [(1, 6), (6, 1), (1, 1), (2, 2)])
def test_linear_osmosis_small_shapes_and_offset(shape):
    rng = _rng(8)
    f = rng.uniform(0, 1, shape)
    b = rng.uniform(0, 1, shape)
    alpha = np.ones(shape)  # drift of f and mass of f: the result is f
    np.testing.assert_allclose(linear_osmosis(f, b, alpha), f, atol=1e-12)
    np.testing.assert_allclose(linear_osmosis(f, b, 1 - alpha, offset=0.5), b, atol=1e-12)
    with pytest.raises(ValueError, match="^offset:"):
        linear_osmosis(f, b, alpha, offset=0)
