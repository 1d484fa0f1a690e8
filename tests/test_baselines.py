"""Baselines: direct matting, Poisson image editing, linear osmosis, guided-filter,
structure-aware and nonlinear spectral fusion."""

import numpy as np
import pytest

from fastosmosis._guided_fusion import guided_fusion_weights
from fastosmosis._spectral_fusion import spectral_times, tv_flow
from fastosmosis._structure_fusion import domain_transform_rf, structure_aware_weights
from fastosmosis.baselines import (
    direct_matting,
    guided_fusion,
    linear_osmosis,
    poisson,
    spectral_fusion,
    structure_aware,
    tv_spectral,
)


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


@pytest.mark.parametrize("method", [direct_matting, poisson, linear_osmosis, guided_fusion,
                                    structure_aware, spectral_fusion])
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


# ---------------------------------------------------------------------------
# guided-filter fusion (Li, Kang, Hu 2013)


def test_guided_fusion_weights_are_a_partition_of_unity():
    f, b = _images((12, 10, 3), seed=4)
    wb, wd = guided_fusion_weights(f, b)
    for w in (wb, wd):
        assert w.shape == (12, 10)
        assert np.all((w >= 0) & (w <= 1))  # f's share; b's is 1 - w: they sum to one
    # the weights follow the saliency: f textured against a flat b takes all of it
    flat = np.full_like(b, 0.4)
    wb, wd = guided_fusion_weights(f, flat)
    np.testing.assert_allclose(wb, 1.0, atol=1e-12)
    np.testing.assert_allclose(wd, 1.0, atol=1e-12)


def test_guided_fusion_keeps_an_image_fused_with_itself_and_the_salient_source():
    f, b = _images((12, 10, 3), seed=5)
    alpha = _rng(2).uniform(0, 1, f.shape[:2])
    # base + detail of one image is the image, whatever the weights
    np.testing.assert_allclose(guided_fusion(f, f, alpha), f, atol=1e-12)
    np.testing.assert_allclose(guided_fusion(f, np.full_like(f, 0.3), alpha), f, atol=1e-12)
    # a flat f against a textured b: b's detail wins, and the result is not f
    u = guided_fusion(np.full_like(f, 0.3), b, alpha)
    assert np.abs(u - 0.3).max() > 0.1
    # alpha_use="blend" composites f back where alpha = 1
    fused = guided_fusion(f, b, alpha)
    np.testing.assert_allclose(guided_fusion(f, b, alpha, alpha_use="blend"),
                               alpha[..., None] * f + (1 - alpha[..., None]) * fused,
                               atol=1e-14)
    assert guided_fusion(f[..., 0], b[..., 0], alpha).shape == (12, 10)
    with pytest.raises(ValueError, match="^alpha_use:"):
        guided_fusion(f, b, alpha, alpha_use="mask")


# ---------------------------------------------------------------------------
# structure-aware fusion (Li, Xie, Zhou, Han, Zhan 2018)


def test_structure_aware_is_a_convex_combination_led_by_structure():
    f, b = _images((11, 9, 3), seed=6)
    alpha = np.ones(f.shape[:2])
    weight = structure_aware_weights(f, b)
    assert np.all((weight >= 0) & (weight <= 1))
    u = structure_aware(f, b, alpha)
    np.testing.assert_allclose(u, weight[..., None] * f + (1 - weight[..., None]) * b,
                               atol=1e-14)
    assert np.all(u >= np.minimum(f, b) - 1e-14) and np.all(u <= np.maximum(f, b) + 1e-14)
    # one image fused with itself, or with a constant one (no structure), is unchanged
    np.testing.assert_allclose(structure_aware(f, f, alpha), f, atol=1e-14)
    np.testing.assert_allclose(structure_aware(f, np.full_like(f, 0.5), alpha), f,
                               atol=1e-14)
    np.testing.assert_allclose(structure_aware(np.full_like(f, 0.5), b, alpha), b,
                               atol=1e-14)
    np.testing.assert_allclose(structure_aware(f, b, alpha, alpha_use="blend"), f,
                               atol=1e-14)


def test_domain_transform_keeps_constants_and_stops_at_edges_of_the_joint_image():
    rng = _rng(7)
    joint = np.zeros((6, 8, 1))
    np.testing.assert_allclose(domain_transform_rf(np.full((6, 8), 0.7), joint, 10, 0.2),
                               0.7, atol=1e-14)
    image = rng.uniform(0, 1, (6, 8))
    smooth = domain_transform_rf(image, joint, 10, 0.2)  # flat joint: plain smoothing
    assert smooth.std() < 0.5 * image.std()
    # a step of the joint image between columns 3 and 4: nothing leaks across it
    joint[:, 4:] = 1.0
    step = np.where(np.arange(8) < 4, 0.2, 0.9) * np.ones((6, 1))
    np.testing.assert_allclose(domain_transform_rf(step, joint, 10, 0.001), step,
                               atol=1e-12)


# ---------------------------------------------------------------------------
# nonlinear spectral fusion (Benning et al. 2017) and the TV spectral decomposition


def _tv(u):
    return np.abs(np.diff(u, axis=0)).sum() + np.abs(np.diff(u, axis=1)).sum()


def test_tv_spectral_decomposition_sums_back_to_the_image():
    rng = _rng(8)
    image = rng.uniform(0, 1, (10, 9))
    image[2:6, 3:7] += 1.0  # a square on noise
    times = spectral_times(0.01, 1.0, 6)
    bands, residual = tv_spectral(image, times)
    assert bands.shape == (6, 10, 9)
    np.testing.assert_allclose(bands.sum(axis=0) + residual, image, rtol=0, atol=1e-12)
    # the flow keeps the mean, so every band has mean 0 and the residual the image's
    np.testing.assert_allclose(bands.mean(axis=(1, 2)), 0, atol=1e-10)
    assert residual.mean() == pytest.approx(image.mean(), abs=1e-10)
    # the TV flow lowers the total variation step by step
    tvs = [_tv(u) for u in tv_flow(image, times)]
    assert np.all(np.diff(tvs) <= 1e-6)
    # a constant image has no spectrum
    bands, residual = tv_spectral(np.full((5, 4), 0.25), times)
    np.testing.assert_allclose(bands, 0, atol=1e-12)
    np.testing.assert_allclose(residual, 0.25, atol=1e-12)
    with pytest.raises(ValueError, match="^times:"):
        tv_spectral(image, [0.5, 0.1])


def test_spectral_fusion_swaps_the_fine_bands_where_alpha_is_below_one():
    f, b = _images((10, 8, 3), seed=9)
    times = spectral_times(0.01, 0.5, 4)
    ones = np.ones(f.shape[:2])
    np.testing.assert_array_equal(spectral_fusion(f, b, ones, times=times), f)
    alpha = np.zeros(f.shape[:2])
    np.testing.assert_allclose(spectral_fusion(f, f, alpha, times=times), f, atol=1e-12)
    np.testing.assert_allclose(spectral_fusion(f, b, alpha, times=times,
                                               band_weights=np.zeros(4)), f, atol=1e-14)
    # alpha = 0 everywhere: b's bands over f's residual (the coarse scales, the colour)
    u = spectral_fusion(f, b, alpha, times=times, margin=None)
    for c in range(3):
        bands_b, res_b = tv_spectral(b[..., c], times)
        _, res_f = tv_spectral(f[..., c], times)
        np.testing.assert_allclose(u[..., c], bands_b.sum(axis=0) + res_f, atol=1e-12)
    # a half alpha takes half of each band difference
    half = spectral_fusion(f, b, 0.5 * ones, times=times)
    np.testing.assert_allclose(half, (f + u) / 2, atol=1e-12)
    with pytest.raises(ValueError, match="^band_weights:"):
        spectral_fusion(f, b, alpha, times=times, band_weights=[1.0, 2.0, 0.0, 0.0])
