"""The box mean and the guided filter against their definitions, pixel by pixel."""

import numpy as np
import pytest

from fastosmosis.filters import box_mean, guided_filter


def _windows(shape, r):
    """Each pixel's window as slices, cut at the border."""
    for i in range(shape[0]):
        for j in range(shape[1]):
            yield i, j, (slice(max(i - r, 0), i + r + 1), slice(max(j - r, 0), j + r + 1))


def _guided_by_definition(guide, p, r, eps):
    """He et al.: fit q = a.I + b in every window by ridge regression, average a and b."""
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
    abar, bbar = np.zeros_like(a), np.zeros_like(b)
    for i, j, win in _windows((h, w), r):
        abar[i, j] = a[win].reshape(-1, c).mean(axis=0)
        bbar[i, j] = b[win].mean()
    return np.einsum("ijc,ijc->ij", abar, g) + bbar


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
