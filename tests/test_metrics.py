"""The chromaticity error of eq. (16) and its score; FMI and BRISQUE (Table I)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from fastosmosis._brisque import brisque_model_files
from fastosmosis._fmi import fmi_features
from fastosmosis._optional import MissingDependencyError
from fastosmosis.metrics import (
    brisque,
    chromaticity_error,
    chromaticity_left_out,
    chromaticity_score,
    fmi,
)

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


# ---------------------------------------------------------------------------
# FMI (Haghighat and Razian, Fast-FMI)


def _fmi_window_reference(a, f):
    """FMI_FA of one window pair, a line-by-line transcription of the authors' MATLAB
    loops (column-major windows, Nelsen's joint pdf), slow and plain."""
    a, f = a.flatten(order="F"), f.flatten(order="F")
    if np.array_equal(a, f):
        return 1.0
    pdfs = []
    for x in (a, f):
        x = np.ones_like(x) if x.max() == x.min() else (x - x.min()) / (x.max() - x.min())
        pdfs.append(x / x.sum())
    pa, pf = pdfs
    n = pa.size
    ca, cf = np.cumsum(pa), np.cumsum(pf)
    ta, tf = pa - pa.mean(), pf - pf.mean()
    num = float(np.sum(ta * tf))
    c = 0.0 if num == 0 else num / np.sqrt(np.sum(ta * ta) * np.sum(tf * tf))
    idx = np.arange(1, n + 1)
    sa = np.sqrt(np.sum(idx**2 * pa) - np.sum(idx * pa) ** 2)
    sf = np.sqrt(np.sum(idx**2 * pf) - np.sum(idx * pf) ** 2)

    def bound(x, y):
        return min(x, y) if c >= 0 else max(x + y - 1, 0.0)

    if (c >= 0 and c == 0) or sa == 0 or sf == 0:
        weight = 0.0
    else:
        cov = sum(bound(cf[i], ca[j]) - cf[i] * ca[j] for i in range(n) for j in range(n))
        weight = c / (cov / (sf * sa))
    joint = 0.0
    for i in range(n):
        for j in range(n):
            m = bound(cf[i], ca[j])
            if i:
                m -= bound(cf[i - 1], ca[j])
            if j:
                m -= bound(cf[i], ca[j - 1])
            if i and j:
                m += bound(cf[i - 1], ca[j - 1])
            p = weight * m + (1 - weight) * pf[i] * pa[j]
            if p != 0:
                joint -= p * np.log2(abs(p))
    ha = -sum(p * np.log2(p) for p in pa if p)
    hf = -sum(p * np.log2(p) for p in pf if p)
    mi = ha + hf - joint
    return 0.0 if mi == 0 else 2 * mi / (ha + hf)


def test_fmi_by_hand_on_tiny_windows():
    rng = np.random.default_rng(11)
    a = rng.uniform(0, 1, (3, 3))
    flat = np.full((3, 3), 0.4)
    # f flat: its pdf is uniform, uncorrelated with a's, so the joint pdf is the product
    # and I(F; A) = 0; b = f gives 1; the window's score is (0 + 1) / 2
    assert fmi(a, flat, flat, feature="pixel") == pytest.approx(0.5, abs=1e-12)
    # f a rescaled copy of a (not equal, the same pdf after rescaling): c = 1, the
    # upper Frechet bound has correlation 1, the joint pdf is diagonal: FMI = 1
    assert fmi(a, 3 * a, 2 * a + 0.1, feature="pixel") == pytest.approx(1.0, abs=1e-12)
    assert fmi(a, a, a) == 1.0


@pytest.mark.parametrize("feature", ["pixel", "gradient", "dct", "edge"])
def test_fmi_matches_the_window_by_window_reference(feature):
    rng = np.random.default_rng(12)
    a, b, f = (rng.uniform(0, 1, (5, 6)) for _ in range(3))
    f[:3, :3] = a[:3, :3]  # one window equal to a's
    fa, fb, ff = (fmi_features(x, feature) for x in (a, b, f))
    expected = np.mean([
        (_fmi_window_reference(fa[i:i + 3, j:j + 3], ff[i:i + 3, j:j + 3])
         + _fmi_window_reference(fb[i:i + 3, j:j + 3], ff[i:i + 3, j:j + 3])) / 2
        for i in range(3) for j in range(4)])
    assert fmi(a, b, f, feature=feature) == pytest.approx(expected, rel=1e-12)
    # anti-correlated windows take the lower Frechet bound
    assert fmi(a, b, 1 - a, feature="pixel") == pytest.approx(np.mean([
        (_fmi_window_reference(a[i:i + 3, j:j + 3], 1 - a[i:i + 3, j:j + 3])
         + _fmi_window_reference(b[i:i + 3, j:j + 3], 1 - a[i:i + 3, j:j + 3])) / 2
        for i in range(3) for j in range(4)]), rel=1e-12)


def test_fmi_features_by_hand_and_colour_average():
    x = np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 3.0]])
    # MATLAB gradient: one-sided at the ends, central inside, along the rows
    np.testing.assert_allclose(fmi_features(x, "gradient"), [[1, 1.5, 2], [0, 1.5, 3]])
    np.testing.assert_array_equal(fmi_features(x, "pixel"), x)
    d = fmi_features(x, "dct")
    assert np.sum(d * d) == pytest.approx(np.sum(x * x))  # orthonormal
    assert d[0, 0] == pytest.approx(x.sum() / np.sqrt(x.size))
    step = np.zeros((6, 12))
    step[:, 6:] = 1.0  # Sobel responds on columns 5 and 6, above 4 x its mean square
    edges = fmi_features(step, "edge")
    assert edges[:, :5].sum() == 0 and edges[:, 7:].sum() == 0
    np.testing.assert_array_equal(edges[:, 5:7], [[0, 1]] * 6)  # thinned to one column
    rng = np.random.default_rng(13)
    a, b, f = (rng.uniform(0, 1, (5, 4, 3)) for _ in range(3))
    assert fmi(a, b, f) == pytest.approx(
        np.mean([fmi(a[..., c], b[..., c], f[..., c]) for c in range(3)]), rel=1e-14)
    with pytest.raises(ValueError, match="^feature:"):
        fmi(a, b, f, feature="wavelet")
    with pytest.raises(ValueError, match="^window:"):
        fmi(a, b, f, window=4)
    with pytest.raises(TypeError, match="^window:"):
        fmi(a, b, f, window=3.0)
    with pytest.raises(ValueError, match="^fused:"):
        fmi(a, b, f[:-1])


# ---------------------------------------------------------------------------
# BRISQUE (OpenCV)


def test_brisque_on_the_faces_foreground_and_per_channel():
    pytest.importorskip("cv2")
    import imageio.v3 as iio

    f = iio.imread(DATA / "4_foreground.png")
    # the figure the model's README gives (8-bit BGR into OpenCV)
    assert brisque(f, channels="grey") == pytest.approx(12.31, abs=0.005)
    per_channel = [brisque(f[..., c]) for c in range(3)]
    assert brisque(f) == pytest.approx(np.mean(per_channel), rel=1e-12)
    assert len(set(per_channel)) == 3


def test_brisque_model_ships_with_the_package():
    import fastosmosis

    package = Path(fastosmosis.__file__).parent
    for path in brisque_model_files():
        assert path.is_file()
        assert Path(str(path)).resolve().is_relative_to(package.resolve())
    folder = package / "data" / "brisque"
    assert (folder / "LICENSE-opencv_contrib.txt").is_file()
    assert "brisque/" in (package / "data" / "ATTRIBUTION.txt").read_text()


def test_brisque_without_opencv_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 fails
    image = np.full((20, 20), 0.5)
    with pytest.raises(MissingDependencyError, match=r"fastosmosis\[brisque\]"):
        brisque(image)
    with pytest.raises(ValueError, match="^image:"):
        brisque(np.zeros((10, 20)))
    with pytest.raises(ValueError, match="^channels:"):
        brisque(image, channels="rgb")
