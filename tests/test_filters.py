"""The box mean, the guided filter, its coefficients and the fast guided upsampling
against their definitions, pixel by pixel."""

import numpy as np
import pytest

from fastosmosis import filters
from fastosmosis.filters import box_mean, guided_coefficients, guided_filter, guided_upsample


def _windows(shape, r):
    """Each pixel's window as slices, cut at the border."""
    for i in range(shape[0]):
        for j in range(shape[1]):
            yield i, j, (slice(max(i - r, 0), i + r + 1), slice(max(j - r, 0), j + r + 1))


def _coefficients_by_definition(guide, p, r, eps):
    """He et al.: fit p ~ a.I + b in every window by ridge regression; a is H x W x C."""
    g = guide if guide.ndim == 3 else guide[:, :, None]
    h, w, c = g.shape
    a, b = np.zeros((h, w, c)), np.zeros((h, w))
    for i, j, win in _windows((h, w), r):
        x = g[win].reshape(-1, c)
        y = p[win].reshape(-1)
        xm, ym = x.mean(axis=0), y.mean()
        cov = (x - xm).T @ (x - xm) / len(y)
        a[i, j] = np.linalg.solve(cov + eps * np.eye(c), (x - xm).T @ (y - ym) / len(y))
        b[i, j] = ym - a[i, j] @ xm
    return a, b


def _window_means_by_definition(a, b, r):
    abar, bbar = np.zeros_like(a), np.zeros_like(b)
    for i, j, win in _windows(b.shape, r):
        abar[i, j] = a[win].reshape(-1, a.shape[2]).mean(axis=0)
        bbar[i, j] = b[win].mean()
    return abar, bbar


def _guided_by_definition(guide, p, r, eps):
    """He et al.: the coefficients of the windows holding each pixel, averaged, applied."""
    g = guide if guide.ndim == 3 else guide[:, :, None]
    abar, bbar = _window_means_by_definition(*_coefficients_by_definition(guide, p, r, eps), r)
    return np.einsum("ijc,ijc->ij", abar, g) + bbar


def _bilinear_by_definition(x, shape):
    """Pixel centres at i + 0.5 on both grids, linear between the two nearest input
    centres, constant beyond the outer ones: np.interp along the rows, then the columns."""
    def along(x, m, axis):
        n = x.shape[axis]
        at = (np.arange(m) + 0.5) * n / m - 0.5
        return np.apply_along_axis(lambda v: np.interp(at, np.arange(n), v), axis, x)
    return along(along(x, shape[0], 0), shape[1], 1)


@pytest.mark.parametrize("shape, r", [((7, 9), 1), ((5, 4), 2), ((6, 6), 4), ((1, 5), 1)])
def test_box_mean_is_the_mean_over_the_cut_window(shape, r):
    x = np.random.default_rng(0).random(shape)
    expected = np.array([[x[win].mean() for _, _, win in _windows(shape, r)]]).reshape(shape)
    np.testing.assert_allclose(box_mean(x, r), expected, rtol=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("r, eps", [(1, 1e-2), (2, 1e-4), (3, 0.3)])
def test_guided_filter_matches_its_definition(channels, r, eps):
    rng = np.random.default_rng(channels * 10 + r)
    guide = rng.random((8, 9, channels)) if channels == 3 else rng.random((8, 9))
    p = rng.random((8, 9))
    np.testing.assert_allclose(guided_filter(guide, p, r, eps),
                               _guided_by_definition(guide, p, r, eps), rtol=1e-9, atol=1e-12)


def test_guided_filter_keeps_a_function_of_the_guide_and_a_constant():
    rng = np.random.default_rng(3)
    guide = rng.random((10, 12))
    # a linear function of the guide is reproduced exactly as eps -> 0
    np.testing.assert_allclose(guided_filter(guide, 2 * guide + 1, 2, 1e-12), 2 * guide + 1,
                               atol=1e-6)
    np.testing.assert_allclose(guided_filter(guide, np.full((10, 12), 0.4), 3, 0.1), 0.4,
                               atol=1e-12)
    # channels of src are filtered one by one under the same guide
    p = rng.random((10, 12, 2))
    both = guided_filter(guide, p, 1, 1e-3)
    np.testing.assert_allclose(both[:, :, 1], guided_filter(guide, p[:, :, 1], 1, 1e-3))


def test_guided_filter_rejects_bad_arguments():
    with pytest.raises(ValueError, match="does not fit"):
        guided_filter(np.zeros((4, 4)), np.zeros((4, 5)), 1, 0.1)
    with pytest.raises(ValueError, match="eps"):
        guided_filter(np.zeros((4, 4)), np.zeros((4, 4)), 1, 0.0)
    with pytest.raises(ValueError, match="guide"):
        guided_filter(np.zeros((4, 4, 2)), np.zeros((4, 4)), 1, 0.1)
    with pytest.raises(ValueError, match="radius"):
        box_mean(np.zeros((3, 3)), -1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape, r, eps", [((6, 7), 1, 1e-2), ((5, 4), 2, 1e-4),
                                           ((1, 6), 1, 0.1)])
def test_guided_coefficients_match_their_definition(channels, shape, r, eps):
    rng = np.random.default_rng(channels + r)
    guide = rng.random(shape + (3,)) if channels == 3 else rng.random(shape)
    p = rng.random(shape)
    a, b = guided_coefficients(guide, p, r, eps)
    a_def, b_def = _coefficients_by_definition(guide, p, r, eps)
    assert a.shape == (shape + (3,) if channels == 3 else shape) and b.shape == shape
    np.testing.assert_allclose(a, a_def if channels == 3 else a_def[:, :, 0], rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(b, b_def, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
def test_guided_upsample_at_factor_1_is_the_guided_filter(channels):
    rng = np.random.default_rng(5)
    guide = rng.random((9, 11, 3)) if channels == 3 else rng.random((9, 11))
    p = rng.random((9, 11))
    np.testing.assert_allclose(guided_upsample(p, guide, guide, 2, 1e-3),
                               guided_filter(guide, p, 2, 1e-3), rtol=0, atol=1e-13)


@pytest.mark.parametrize("channels", [1, 3])
def test_guided_upsample_matches_its_definition(channels):
    """He & Sun 2015: coefficients at the low size, their window means there, enlarged
    bilinearly, applied to the full guide."""
    rng = np.random.default_rng(6)
    guide = rng.random((15, 17, 3)) if channels == 3 else rng.random((15, 17))
    low_guide = guide[1::3, 1::3]  # any low-resolution guide will do: 5 x 6
    p = rng.random((5, 6))
    abar, bbar = _window_means_by_definition(*_coefficients_by_definition(low_guide, p, 1,
                                                                           1e-2), 1)
    a_up = np.stack([_bilinear_by_definition(abar[:, :, c], (15, 17))
                     for c in range(abar.shape[2])], axis=2)
    g = guide if channels == 3 else guide[:, :, None]
    expected = np.einsum("ijc,ijc->ij", a_up, g) + _bilinear_by_definition(bbar, (15, 17))
    np.testing.assert_allclose(guided_upsample(p, low_guide, guide, 1, 1e-2), expected,
                               rtol=1e-9, atol=1e-12)


def test_guided_upsample_keeps_a_linear_function_of_the_guide():
    """Where the low-resolution input is an affine function of the low-resolution guide,
    the coefficients are constant and the output is that function of the full guide."""
    rng = np.random.default_rng(7)
    guide = rng.random((40, 36, 3))
    low = guide.reshape(10, 4, 9, 4, 3).mean(axis=(1, 3))
    weights = np.array([0.5, -1.0, 2.0])
    out = guided_upsample(low @ weights + 0.3, low, guide, 2, 1e-12)
    np.testing.assert_allclose(out, guide @ weights + 0.3, atol=1e-6)


def test_guided_upsample_bands_equal_the_whole_image(monkeypatch):
    rng = np.random.default_rng(8)
    guide, low, p = rng.random((23, 19, 3)), rng.random((7, 6, 3)), rng.random((7, 6))
    whole = guided_upsample(p, low, guide, 1, 1e-3)
    monkeypatch.setattr(filters, "BAND_PIXELS", 3 * 19)  # bands of 3 rows, the last of 2
    np.testing.assert_allclose(guided_upsample(p, low, guide, 1, 1e-3), whole, rtol=0,
                               atol=1e-14)


def test_guided_upsample_rejects_bad_arguments():
    with pytest.raises(ValueError, match="does not match the low-resolution guide"):
        guided_upsample(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((9, 9, 3)), 1, 0.1)
    with pytest.raises(ValueError, match="does not fit"):
        guided_upsample(np.zeros((3, 4)), np.zeros((3, 3, 3)), np.zeros((9, 9, 3)), 1, 0.1)
    with pytest.raises(ValueError, match="src: expected H x W"):
        guided_coefficients(np.zeros((3, 3)), np.zeros((3, 3, 2)), 1, 0.1)
    with pytest.raises(ValueError, match="eps"):
        guided_upsample(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((9, 9)), 1, 0.0)
