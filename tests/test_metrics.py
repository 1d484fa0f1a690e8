"""The chromaticity error of eq. (16) and its score."""

from pathlib import Path

import numpy as np
import pytest

from fastosmosis.metrics import chromaticity_error, chromaticity_left_out, chromaticity_score

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"


def _rgb(shape=(6, 5), seed=0, low=0.05):
    return np.random.default_rng(seed).uniform(low, 1.0, shape + (3,))


def test_one_pixel_by_hand():
    u1 = np.array([[[0.2, 0.4, 0.8]]])
    u2 = np.array([[[0.5, 0.5, 0.5]]])
    g1 = (0.2 * 0.4 * 0.8) ** (1 / 3)
    expected = np.abs(np.array([0.2, 0.4, 0.8]) / g1 - 1.0)
    np.testing.assert_allclose(chromaticity_error(u1, u2)[0, 0], expected, rtol=1e-14, atol=1e-15)
    assert chromaticity_score(u1, u2) == pytest.approx(expected.mean(), rel=1e-14)
    assert chromaticity_score(u1, u2, reduce="rms") == pytest.approx(
        np.sqrt(np.mean(expected**2)), rel=1e-14)


def test_zero_for_the_same_chromaticity_and_symmetric():
    u = _rgb(seed=1)
    assert np.array_equal(chromaticity_error(u, u), np.zeros_like(u))
    # GCM normalises brightness away: a scaled copy has the same chromaticity
    np.testing.assert_allclose(chromaticity_error(0.5 * u, u), 0, atol=1e-14)
    v = _rgb(seed=2)
    np.testing.assert_allclose(chromaticity_error(u, v), chromaticity_error(v, u), rtol=1e-14)
    assert chromaticity_score(u, v) > 0.1


def test_u1_is_clipped_and_reference_zeros_are_left_out():
    u2 = _rgb(seed=3)
    u2[1, 2, 0] = 0.0
    u2[4, 4, 2] = 0.0
    u1 = _rgb(seed=4)
    err = chromaticity_error(u1, u2)
    assert np.isnan(err[1, 2]).all() and np.isnan(err[4, 4]).all()
    assert np.isnan(err).sum() == 6
    keep = ~np.isnan(err[..., 0])
    assert chromaticity_score(u1, u2) == pytest.approx(err[keep].mean(), rel=1e-14)
    assert chromaticity_left_out(u2) == 2
    # u1 outside [1/255, 1] is clipped: 0 -> 1/255, 2 -> 1
    low, high = u1.copy(), u1.copy()
    low[0, 0, 1] = 0.0
    high[0, 0, 1] = 2.0
    ref_low, ref_high = u1.copy(), u1.copy()
    ref_low[0, 0, 1] = 1 / 255
    ref_high[0, 0, 1] = 1.0
    np.testing.assert_array_equal(chromaticity_error(low, u2), chromaticity_error(ref_low, u2))
    np.testing.assert_array_equal(chromaticity_error(high, u2), chromaticity_error(ref_high, u2))
    assert np.isfinite(chromaticity_error(np.zeros_like(u1), _rgb(seed=5))).all()


def test_mask_and_uint8():
    u1, u2 = _rgb(seed=6), _rgb(seed=7)
    mask = np.zeros(u1.shape[:2], dtype=bool)
    mask[2:4, 1:3] = True
    err = chromaticity_error(u1, u2)
    assert chromaticity_score(u1, u2, mask) == pytest.approx(err[mask].mean(), rel=1e-14)
    u2[2, 1, 1] = 0
    u2[0, 0, 0] = 0
    assert chromaticity_left_out(u2, mask) == 1
    assert np.isnan(chromaticity_score(u1, u2, np.zeros_like(mask)))
    u8 = (u1 * 255).round().astype(np.uint8)
    np.testing.assert_allclose(chromaticity_error(u8, u2), chromaticity_error(u8 / 255, u2))


def test_bad_input():
    u = _rgb()
    with pytest.raises(ValueError, match="^u1:.*RGB"):
        chromaticity_error(u[..., 0], u)
    with pytest.raises(ValueError, match="^u2:.*RGB"):
        chromaticity_error(u, np.concatenate([u, u[..., :1]], axis=2))
    with pytest.raises(ValueError, match="^u2:.*shape"):
        chromaticity_error(u, u[:-1])
    with pytest.raises(ValueError, match="^u1:.*NaN"):
        chromaticity_error(np.where(u > 0.5, np.nan, u), u)
    with pytest.raises(ValueError, match="^u2:.*negative"):
        chromaticity_error(u, -u)
    with pytest.raises(ValueError, match="^mask:"):
        chromaticity_score(u, u, mask=np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="^reduce:"):
        chromaticity_score(u, u, reduce="max")


@pytest.mark.skipif(not (DATA / "4_alpha.png").exists(), reason="shared faces data absent")
def test_table_one_direct_matting_on_faces():
    """Table I: direct matting scores 0.0178 printed; 0.0181 with scipy's blur."""
    imageio = pytest.importorskip("imageio.v3")
    from scipy.ndimage import gaussian_filter

    from fastosmosis.baselines import direct_matting

    f = imageio.imread(DATA / "4_foreground.png")[..., :3] / 255
    b = imageio.imread(DATA / "4_background.png")[..., :3] / 255
    a = imageio.imread(DATA / "4_alpha.png")[..., 0] / 255
    alpha = gaussian_filter((a == 1).astype(float), 5)
    u = direct_matting(f, b, alpha)
    score = chromaticity_score(u, f)
    assert score == pytest.approx(0.0181, rel=0.05)
    assert score == pytest.approx(0.0178, rel=0.05)
    assert chromaticity_score(u, f, reduce="rms") == pytest.approx(0.090, rel=0.05)
    assert chromaticity_left_out(f) == 26
