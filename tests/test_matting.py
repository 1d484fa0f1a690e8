"""Alpha from a trimap (fastosmosis.matting, ``fastosmosis alpha``): issue 16, item 2.

The target on a crop of the puppets (the full image is the ``slow`` test), the reduced-size
path and its guided upsampling, the trimap's reading, the errors, the command line in a
subprocess and the message when pymatting is missing.
"""

import subprocess
import sys

import numpy as np
import pytest

from fastosmosis import matting
from fastosmosis._area import area_matrix, linear_matrix, resize
from fastosmosis._optional import MissingDependencyError
from fastosmosis.cli import main
from fastosmosis.filters import guided_filter, guided_upsample
from fastosmosis.io import read_image, write_image
from fastosmosis.matting import (
    UPSAMPLE_EPS,
    UPSAMPLE_RADIUS,
    alpha_from_trimap,
    reduce_known,
    solve_shape,
    trimap_from_alpha,
    trimap_masks,
)
from tests.conftest import DATA, needs

pytestmark = needs(DATA / "1_foreground.png")

TARGET_MAD = 0.12  # issue 16: mean |alpha - published alpha| over the unknown pixels
# A crop holding foreground, background and 39 % unknown (hair over the background).
# KNN's neighbours are found in colour and in position normalised to the image's size, so
# on a crop position weighs ~5x more than on the whole image: over 14 random 112-pixel
# crops its error ranged 0.07-0.23; the full image is the real target (the slow test).
CROP = (slice(450, 562), slice(390, 502))


def puppets(crop=(slice(None), slice(None))):
    image = read_image(DATA / "1_foreground.png")[0][crop]
    alpha = read_image(DATA / "1_alpha.png")[0][..., 0][crop]
    return image, alpha, trimap_from_alpha(alpha, erode=5)


def unknown_mad(result, alpha, trimap):
    unknown = trimap == matting.UNKNOWN
    return np.abs(result.alpha - alpha / 255.0)[unknown].mean()


@pytest.fixture(scope="module")
def crop():
    return puppets(CROP)


@pytest.mark.parametrize("method", matting.METHODS)
def test_crop_target(crop, method):
    image, alpha, trimap = crop
    result = alpha_from_trimap(image, trimap, method=method)
    assert result.solved_shape == image.shape[:2] and result.method == method
    assert result.alpha.dtype == np.float64 and result.alpha.shape == image.shape[:2]
    assert 0.0 <= result.alpha.min() and result.alpha.max() <= 1.0
    assert unknown_mad(result, alpha, trimap) <= TARGET_MAD
    assert result.seconds > 0


@pytest.mark.slow
@pytest.mark.parametrize("method", matting.METHODS)
def test_full_puppets_target(method):
    image, alpha, trimap = puppets()
    assert unknown_mad(alpha_from_trimap(image, trimap, method=method), alpha,
                       trimap) <= TARGET_MAD


def test_reduced_size_close_to_full_size(crop):
    image, _, trimap = crop
    full = alpha_from_trimap(image, trimap, method="cf")
    half = alpha_from_trimap(image, trimap, method="cf", max_pixels=image.shape[0]
                             * image.shape[1] // 4)
    assert half.solved_shape == (56, 56)
    unknown = trimap == matting.UNKNOWN
    # fast guided upsampling: measured 0.0245 (the guided filter of the bilinear
    # enlargement, the previous method, measured 0.039)
    assert np.abs(half.alpha - full.alpha)[unknown].mean() <= 0.035
    np.testing.assert_array_equal(half.alpha[trimap == 255], 1.0)
    np.testing.assert_array_equal(half.alpha[trimap == 0], 0.0)
    assert 0.0 <= half.alpha.min() and half.alpha.max() <= 1.0


def test_reduced_size_grey_image(crop):
    image, alpha, trimap = crop
    grey = image[:, :, 1]
    result = alpha_from_trimap(grey, trimap, method="cf", max_pixels=2000)
    assert result.solved_shape == solve_shape(grey.shape, 2000) == (44, 44)
    assert result.alpha.shape == grey.shape
    np.testing.assert_array_equal(result.alpha[trimap == 255], 1.0)


def test_solve_shape():
    assert solve_shape((100, 50), 5000) == (100, 50)
    assert solve_shape((4000, 4000), 1_000_000) == (1000, 1000)
    h, w = solve_shape((3356, 4768), 1_000_000)
    assert h * w <= 1_000_000 and abs(w / h - 4768 / 3356) < 0.01


def step(shape=(48, 64), edge=29):
    """An image with a vertical step edge at a column that is no multiple of 4, and the
    step as alpha."""
    alpha = np.zeros(shape)
    alpha[:, edge:] = 1.0
    image = np.stack([0.2 + 0.6 * alpha, 0.5 - 0.3 * alpha, 0.4 + 0.1 * alpha], axis=2)
    return image, alpha


@pytest.mark.parametrize("grey", [False, True], ids=["colour-guide", "grey-guide"])
def test_guided_upsampling_is_edge_aware(grey):
    """The fast guided filter at the matting's radius and eps brings a step back sharp
    where the image has it; the guided filter of the bilinear enlargement (the previous
    method) and the bilinear enlargement itself leave a ramp."""
    image, alpha = step()
    guide = image[:, :, 0] if grey else image
    low = resize(alpha, (12, 16), "area")  # the edge blurred into one coarse column
    low_guide = resize(guide, (12, 16), "area")
    bilinear = resize(low, alpha.shape, "linear")
    fast = np.clip(guided_upsample(low, low_guide, guide, UPSAMPLE_RADIUS, UPSAMPLE_EPS),
                   0, 1)
    old = np.clip(guided_filter(guide, bilinear, 8, 1e-4), 0, 1)
    # alpha is an affine function of the image, so of the area averages too: the windows
    # across the edge fit that function and the step comes back at columns 28 | 29, nearly
    # whole (measured 0.97)
    jumps = np.diff(fast, axis=1)
    assert np.all(np.argmax(jumps, axis=1) == 28) and jumps[:, 28].min() > 0.9
    # near the edge (where a trimap leaves alpha unknown): measured 0.0043 (colour and
    # grey guide), against 0.108 for the previous method and 0.207 for bilinear, within
    # 4 px
    near = np.abs(np.arange(alpha.shape[1]) - 28.5) < 4
    errors = [np.abs(x - alpha)[:, near].mean() for x in (fast, old, bilinear)]
    assert errors[0] < 0.01 and errors[1] > 0.05 and errors[2] > 0.15, errors


def test_resize_matrices():
    a = area_matrix(3, 7).toarray()
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    np.testing.assert_allclose(a[0, :3], [3 / 7, 3 / 7, 1 / 7])  # overlaps of [0, 7/3)
    lin = linear_matrix(7, 3).toarray()
    np.testing.assert_allclose(lin.sum(axis=1), 1.0)
    np.testing.assert_allclose(lin @ np.array([0.0, 1.0, 2.0]),
                               np.clip((np.arange(7) + 0.5) * 3 / 7 - 0.5, 0, 2))


@pytest.mark.parametrize("kind, shape", [("linear", (17, 11)), ("area", (4, 3))])
def test_resize_rows_is_a_band_of_the_whole(rng, kind, shape):
    x = rng.uniform(0, 1, (9, 7, 2))
    whole = resize(x, shape, kind)
    for rows in (slice(0, 3), slice(2, 4), slice(3, shape[0])):
        np.testing.assert_allclose(resize(x, shape, kind, rows=rows), whole[rows], rtol=0,
                                   atol=1e-15)


def test_reduced_known_only_where_the_whole_footprint_is():
    mask = np.zeros((6, 6), bool)
    mask[:, :4] = True  # columns 0-3: at half size, reduced columns 0 and 1 only
    np.testing.assert_array_equal(reduce_known(mask, (3, 3)),
                                  np.repeat([[True, True, False]], 3, axis=0))
    np.testing.assert_array_equal(reduce_known(mask, (2, 2)),  # footprints of 3
                                  np.repeat([[True, False]], 2, axis=0))


@pytest.mark.parametrize("top", [np.uint8(255), np.uint16(65535), np.float32(1.0), 1.0],
                         ids=["uint8", "uint16", "float32", "float64"])
def test_trimap_values(top):
    trimap = np.full((4, 5), top / 2, dtype=np.asarray(top).dtype)
    trimap[0, 0] = top
    trimap[3, 4] = 0
    fg, bg = trimap_masks(trimap, (4, 5))
    assert fg.sum() == 1 and fg[0, 0] and bg.sum() == 1 and bg[3, 4]


def test_trimap_as_rgb():
    trimap = np.full((4, 5), 128, np.uint8)
    trimap[0], trimap[3] = 255, 0
    fg, bg = trimap_masks(np.repeat(trimap[:, :, None], 3, axis=2), (4, 5))
    np.testing.assert_array_equal(fg, trimap == 255)
    np.testing.assert_array_equal(bg, trimap == 0)


def good_trimap(shape=(8, 8)):
    trimap = np.full(shape, 128, np.uint8)
    trimap[:2], trimap[-2:] = 255, 0
    return trimap


@pytest.mark.parametrize(
    "trimap, message",
    [
        (np.full((8, 8), 128, np.uint8), "no pixel is known foreground"),
        (np.where(good_trimap() == 0, 128, good_trimap()).astype(np.uint8),
         "no pixel is known background"),
        (good_trimap((8, 9)), "size 8 x 9 differs from the image's 8 x 8"),
        (np.stack([good_trimap(), good_trimap(), 255 - good_trimap()], axis=2),
         "channels differ"),
        (np.where(good_trimap() == 128, np.nan, good_trimap() / 255), "NaN"),
        (good_trimap() * 2.0, "must lie in [0, 1]"),
    ],
    ids=["no-fg", "no-bg", "size", "rgb-differ", "nan", "float-range"],
)
def test_trimap_errors_before_any_work(monkeypatch, trimap, message):
    monkeypatch.setitem(sys.modules, "pymatting", None)  # the checks come first
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        alpha_from_trimap(np.zeros((8, 8, 3)), trimap)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(method="lkm"), ValueError, "method: unknown value 'lkm'"),
        (dict(max_pixels=0), ValueError, "max_pixels: must be positive"),
        (dict(max_pixels=2.5), TypeError, "max_pixels: expected a whole number"),
        (dict(eps=0.0), ValueError, "eps: must be positive"),
        (dict(radius=0), ValueError, "radius: must be positive"),
    ],
)
def test_option_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        alpha_from_trimap(np.zeros((8, 8, 3)), good_trimap(), **kwargs)


def test_image_errors():
    with pytest.raises(ValueError, match="image: expected grey or RGB"):
        alpha_from_trimap(np.zeros((8, 8, 4)), good_trimap())
    with pytest.raises(TypeError, match="image: unsupported dtype"):
        alpha_from_trimap(np.zeros((8, 8), np.int32), good_trimap())


def test_known_regions_lost_at_the_reduced_size():
    trimap = np.full((40, 40), 128, np.uint8)
    trimap[:8] = 255
    trimap[-1] = 0  # one row of background: gone at a quarter of the size
    with pytest.raises(ValueError, match="at the reduced size 10 x 10 .* no pixel is known "
                       "background; raise max_pixels"):
        alpha_from_trimap(np.zeros((40, 40)), trimap, max_pixels=100)


def test_trimap_from_alpha():
    alpha = np.zeros((20, 20))
    alpha[:, 10:] = 1.0
    alpha[:, 9:11] = 0.5
    trimap = trimap_from_alpha(alpha, erode=3)
    assert trimap.dtype == np.uint8
    # alpha == 0 on columns 0-8, == 1 on 11-19, each eroded by 3 (not at the image border)
    np.testing.assert_array_equal(trimap[5], [0] * 6 + [128] * 8 + [255] * 6)
    np.testing.assert_array_equal(trimap[0], trimap[5])  # the border does not erode
    np.testing.assert_array_equal(trimap_from_alpha((alpha * 255).astype(np.uint8), 0)[5],
                                  [0] * 9 + [128] * 2 + [255] * 9)
    with pytest.raises(ValueError, match="erode: must be non-negative"):
        trimap_from_alpha(alpha, erode=-1)


def test_trimap_from_alpha_erodes_by_a_disc():
    alpha = np.ones((21, 21))
    alpha[10, 10] = 0.0
    unknown = trimap_from_alpha(alpha, erode=4) == matting.UNKNOWN
    y, x = np.ogrid[-10:11, -10:11]
    np.testing.assert_array_equal(unknown, x * x + y * y <= 16)


def test_missing_pymatting(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "pymatting", None)
    with pytest.raises(MissingDependencyError, match=r"fastosmosis\[alpha\]"):
        alpha_from_trimap(np.zeros((8, 8, 3)), good_trimap())
    image, trimap = tmp_path / "image.png", tmp_path / "trimap.png"
    write_image(image, np.zeros((8, 8, 3), np.uint8), like="8")
    write_image(trimap, good_trimap(), like="8")
    assert main(["alpha", str(image), str(trimap), "-o", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("fastosmosis: error: matting needs pymatting")
    assert "pip install 'fastosmosis[alpha]'" in err[-1]
    assert not (tmp_path / "a.png").exists()


@pytest.fixture
def files(crop, tmp_path):
    image, _, trimap = crop
    paths = {"image8": tmp_path / "image.png", "image16": tmp_path / "image16.tif",
             "trimap": tmp_path / "trimap.png"}
    write_image(paths["image8"], image, like="8")
    write_image(paths["image16"], image / 255.0, like="16")
    write_image(paths["trimap"], trimap, like="8")
    return paths


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "fastosmosis", "alpha", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_end_to_end_16_bit(files, tmp_path):
    out = tmp_path / "alpha16.png"
    proc = run_cli(files["image16"], files["trimap"], "-o", out, "--method", "cf",
                   "--max-pixels", "3136")
    assert proc.returncode == 0, proc.stderr
    assert "cf matting at 56 x 56 (reduced from 112 x 112" in proc.stderr
    assert "cf matting ran at 56 x 56, brought back by the fast guided filter" in proc.stdout
    alpha, info = read_image(out)
    assert info.dtype == np.uint16 and alpha.shape == (112, 112)
    trimap = read_image(files["trimap"])[0]
    np.testing.assert_array_equal(alpha[trimap == 255], 65535)
    np.testing.assert_array_equal(alpha[trimap == 0], 0)


def test_cli_error_exits_2_and_writes_nothing(files, tmp_path):
    small = tmp_path / "small.png"
    write_image(small, good_trimap(), like="8")
    out = tmp_path / "alpha.png"
    proc = run_cli(files["image8"], small, "-o", out)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"fastosmosis: error: {small}: size 8 x 8 differs from "
                                   "the image's 112 x 112")
    assert not out.exists() and list(tmp_path.glob(".*part")) == []


def test_cli_8_bit_full_size(files, tmp_path, capsys):
    out = tmp_path / "alpha.png"
    assert main(["alpha", str(files["image8"]), str(files["trimap"]), "-o", str(out),
                 "--method", "cf"]) == 0
    captured = capsys.readouterr()
    assert "cf matting at full size" in captured.err
    assert "cf matting ran at 112 x 112" in captured.out
    alpha, info = read_image(out)
    assert info.dtype == np.uint8 and alpha.shape == (112, 112)
    direct = alpha_from_trimap(read_image(files["image8"])[0],
                               read_image(files["trimap"])[0], method="cf")
    np.testing.assert_array_equal(alpha, np.rint(direct.alpha * 255).astype(np.uint8))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--max-pixels", "0"], "--max-pixels: must be positive"),
        (["--method", "lkm"], "argument --method: invalid choice: 'lkm'"),
    ],
)
def test_cli_option_errors(files, tmp_path, capsys, extra, message):
    out = tmp_path / "alpha.png"
    assert main(["alpha", str(files["image8"]), str(files["trimap"]), "-o", str(out),
                 *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_no_foreground(files, tmp_path, capsys):
    empty = tmp_path / "empty.png"
    write_image(empty, np.full((112, 112), 128, np.uint8), like="8")
    out = tmp_path / "alpha.png"
    assert main(["alpha", str(files["image8"]), str(empty), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"fastosmosis: error: {empty}: no pixel is known foreground (foreground is 255, "
        "background 0)")
    assert not out.exists()
