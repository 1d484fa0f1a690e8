"""Registration (fastosmosis.registration), its synthetic pairs (fastosmosis.synthetic) and
the ``fastosmosis register`` command.

The issue's target, on small crops of the shared images: mean corner error <= 0.5 px at
FIXED's resolution, for similarity and affine, with the infrared's inverted contrast and
at half FIXED's resolution. The full-size pairs are ``slow``.
"""

import json
import os
import subprocess
import sys

import imagecodecs
import numpy as np
import pytest
import tifffile

from fastosmosis._optional import MissingDependencyError
from fastosmosis.registration import (
    TRANSFORMS,
    RegistrationError,
    RegistrationResult,
    register,
    resample,
)
from fastosmosis.synthetic import (
    IR_TURN,
    corner_error,
    luminance,
    misaligned_pair,
    synthetic_infrared,
)
from tests.conftest import DATA, needs

TARGET = 0.5  # mean corner error, FIXED's pixels
PUPPETS = DATA / "1_foreground.png"
FACES = DATA / "4_foreground.png"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = needs(PUPPETS)


def _read(path):
    return imagecodecs.png_decode(path.read_bytes())


@pytest.fixture(scope="module")
def puppets():
    return _read(PUPPETS)


@pytest.fixture(scope="module")
def crop(puppets):
    """A 256 x 256 crop of the puppets (their faces and hair)."""
    return np.ascontiguousarray(puppets[150:406, 250:506])


# --- the synthetic pair --------------------------------------------------------------


def test_the_synthetic_infrared_inverts_the_dark_tones(crop):
    ir = synthetic_infrared(crop, seed=1).astype(np.float64) / 255
    lum = luminance(crop)
    assert ir.shape == crop.shape[:2] and synthetic_infrared(crop).dtype == np.uint8
    dark, middle, light = lum < 0.15, np.abs(lum - IR_TURN) < 0.05, lum > 0.8
    assert dark.sum() > 100 and middle.sum() > 100 and light.sum() > 100
    # darker than IR_TURN: order reversed (dark ink comes out lighter than mid-tones)
    assert ir[dark].mean() > ir[middle].mean() + 0.2
    assert ir[light].mean() > ir[middle].mean() + 0.4
    np.testing.assert_array_equal(synthetic_infrared(crop, seed=1),
                                  synthetic_infrared(crop, seed=1))
    assert not np.array_equal(synthetic_infrared(crop, seed=1), synthetic_infrared(crop))


def test_the_misaligned_pair_has_the_matrix_it_says(crop):
    fixed, moving, true = misaligned_pair(crop, scale=0.5, angle_degrees=3.0,
                                          shift=(2.0, -1.0), seed=0)
    fh, fw = fixed.shape[:2]
    assert fixed.dtype == moving.dtype == np.uint8 and fixed.shape[2] == 3
    assert moving.shape == (round(0.5 * fh), round(0.5 * fw))
    centre = true @ [(fw - 1) / 2, (fh - 1) / 2, 1]
    np.testing.assert_allclose(centre[:2], [(moving.shape[1] - 1) / 2 + 2.0,
                                            (moving.shape[0] - 1) / 2 - 1.0])
    np.testing.assert_allclose(np.linalg.det(true[:2, :2]), 0.25)
    # MOVING brought back onto FIXED's grid through the true matrix is FIXED's infrared
    # (up to MOVING's lower resolution and both noises)
    back = resample(moving, true, fixed.shape).astype(np.float64)
    ir = synthetic_infrared(fixed, seed=5).astype(np.float64)
    inner = (slice(20, -20), slice(20, -20))
    assert np.corrcoef(back[inner].ravel(), ir[inner].ravel())[0, 1] > 0.9


def test_corner_error_is_the_corners_distance():
    true = np.eye(3)
    shifted = np.eye(3)
    shifted[:2, 2] = (3.0, 4.0)
    assert corner_error(true, true, (10, 20)) == 0.0
    assert corner_error(shifted, true, (10, 20)) == pytest.approx(5.0)
    rotated = np.eye(3)
    rotated[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]  # 90 degrees about (0, 0)
    corners = np.array([[0, 0], [19, 0], [0, 9], [19, 9]], float)
    expected = np.mean(np.hypot(*(corners @ np.array([[0, 1], [-1, 0]]) - corners).T))
    assert corner_error(rotated, true, (10, 20)) == pytest.approx(expected)


# --- registration --------------------------------------------------------------------


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_half_resolution_inverted_contrast_reaches_the_target(crop, transform):
    fixed, moving, true = misaligned_pair(crop, scale=0.5, angle_degrees=4.0,
                                          shift=(3.3, -2.7), seed=2)
    result = register(fixed, moving, transform=transform)
    assert isinstance(result, RegistrationResult) and result.transform == transform
    error = corner_error(result.matrix, true, fixed.shape)
    assert error <= TARGET, f"{transform}: corner error {error:.3f} px"
    assert result.registered.shape == fixed.shape[:2]
    assert result.registered.dtype == np.uint8
    assert result.metric < -0.5 and result.iterations > 0 and result.overlap > 0.9
    assert result.registered_at == fixed.shape[:2]


@needs(FACES)
@pytest.mark.parametrize("transform, scale, angle", [("similarity", 1.25, 5.0),
                                                     ("affine", 0.75, -5.0)])
def test_other_scales_and_rotations_reach_the_target(transform, scale, angle):
    faces = np.ascontiguousarray(_read(FACES)[150:406, 100:356])
    fixed, moving, true = misaligned_pair(faces, scale=scale, angle_degrees=angle,
                                          shift=(-4.1, 5.2), seed=3)
    result = register(fixed, moving, transform=transform)
    assert corner_error(result.matrix, true, fixed.shape) <= TARGET


def test_colour_moving_keeps_its_channels_and_bit_depth(crop):
    """An RGB uint16 MOVING (the visible itself, rotated and at 0.75x) is registered on
    its luminance and comes back RGB uint16; a float32 one comes back float32."""
    fixed, _, true = misaligned_pair(crop, scale=0.75, angle_degrees=-3.0, shift=(1, 2))
    moving16 = resample(crop.astype(np.uint16) * 257, _visible_to_moving(crop, fixed, true),
                        (round(0.75 * fixed.shape[0]), round(0.75 * fixed.shape[1])))
    result = register(fixed, moving16)
    assert result.registered.shape == fixed.shape and result.registered.dtype == np.uint16
    assert corner_error(result.matrix, true, fixed.shape) <= TARGET
    as_float = register(fixed, (moving16 / 65535).astype(np.float32))
    assert as_float.registered.dtype == np.float32 and as_float.registered.shape == fixed.shape
    np.testing.assert_allclose(as_float.matrix, result.matrix, atol=1e-3)


def _visible_to_moving(visible, fixed, true):
    """MOVING's pixel -> visible's, for a pair whose FIXED is ``visible`` less a margin."""
    m = (visible.shape[0] - fixed.shape[0]) // 2
    shift = np.array([[1.0, 0, m], [0, 1.0, m], [0, 0, 1.0]])
    return shift @ np.linalg.inv(true)


def test_a_large_scan_is_registered_reduced_and_resampled_at_full_size(crop):
    fixed, moving, true = misaligned_pair(crop, scale=0.5, angle_degrees=4.0,
                                          shift=(3.3, -2.7), seed=2)
    result = register(fixed, moving, max_pixels=12_000, levels=2)
    assert result.registered_at[0] * result.registered_at[1] <= 12_100
    assert result.registered.shape == fixed.shape[:2]
    assert corner_error(result.matrix, true, fixed.shape) <= TARGET


def test_the_result_is_reproducible_whatever_the_threads(crop):
    """The same seed gives the same map to far below a pixel, on one thread or two,
    first call of the process or not: only the order of SimpleITK's sums differs
    (measured: at most 3e-10 in the matrix; with SimpleITK's RANDOM sampling the
    process's first call differed by up to 8e-6)."""
    fixed, moving, _ = misaligned_pair(crop, scale=0.5, angle_degrees=2.0, shift=(1, 1))
    one = register(fixed, moving, threads=1)
    again = register(fixed, moving, threads=1)
    two = register(fixed, moving, threads=2)
    assert corner_error(again.matrix, one.matrix, fixed.shape) <= 1e-5
    assert corner_error(two.matrix, one.matrix, fixed.shape) <= 1e-5


def _unrelated(shape, seed=0):
    from scipy import ndimage

    noise = np.random.default_rng(seed).random(shape)
    return ndimage.gaussian_filter(noise, 2.0)


def test_unrelated_images_do_not_converge(crop):
    with pytest.raises(RegistrationError, match="did not converge"):
        register(crop[:128, :128], _unrelated((128, 128)))


@pytest.mark.parametrize("fixed, moving, error, match", [
    (np.zeros((40, 200)), np.ones((100, 100)), ValueError, "too small for a 3-level"),
    (np.full((100, 100), np.nan), np.ones((100, 100)), ValueError, "NaN"),
    (-np.ones((100, 100)), np.ones((100, 100)), ValueError, "negative"),
    (np.ones((100, 100)), np.ones((100, 100, 3), bool), TypeError, "dtype bool"),
    (np.ones((100, 100, 3, 2)), np.ones((100, 100)), ValueError, "H x W"),
    (np.ones((100, 100)), np.ones((100, 100)), ValueError, "is constant"),
])
def test_bad_input_is_refused(fixed, moving, error, match):
    with pytest.raises(error, match=match):
        register(fixed, moving)


def test_bad_options_are_refused(crop):
    with pytest.raises(ValueError, match="transform: unknown value 'projective'"):
        register(crop, crop, transform="projective")
    with pytest.raises(ValueError, match="too small for a 6-level"):
        register(crop, crop, levels=6)
    with pytest.raises(TypeError, match="iterations"):
        register(crop, crop, iterations=2.5)


def test_missing_simpleitk_says_how_to_install_it(crop, monkeypatch):
    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    with pytest.raises(MissingDependencyError, match=r"fastosmosis\[register\]"):
        register(crop, crop)


# --- resample ------------------------------------------------------------------------


def test_resample_identity_and_integer_shift_are_exact(crop):
    np.testing.assert_array_equal(resample(crop, np.eye(3), crop.shape), crop)
    shift = np.eye(3)
    shift[:2, 2] = (5, 3)  # output (x, y) takes input (x + 5, y + 3)
    out = resample(crop, shift, (100, 120), order=1)
    np.testing.assert_array_equal(out, crop[3:103, 5:125])
    outside = np.eye(3)
    outside[:2, 2] = (1000, 0)
    assert not resample(crop, outside, (10, 10)).any()
    with pytest.raises(ValueError, match="last row"):
        resample(crop, np.ones((3, 3)), (10, 10))


# --- the command line ----------------------------------------------------------------


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastosmosis", "register", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT})


@pytest.fixture(scope="module")
def pair_files(crop, tmp_path_factory):
    """FIXED as an 8-bit PNG, MOVING (infrared, grey) as a 16-bit TIFF, the true matrix."""
    folder = tmp_path_factory.mktemp("pair")
    fixed, moving, true = misaligned_pair(crop, scale=0.5, angle_degrees=4.0,
                                          shift=(3.3, -2.7), seed=2)
    (folder / "fixed.png").write_bytes(imagecodecs.png_encode(fixed))
    tifffile.imwrite(folder / "moving.tif", moving.astype(np.uint16) * 257)
    return folder, fixed.shape, true


def test_cli_writes_the_registered_image_report_and_check_picture(pair_files):
    folder, shape, true = pair_files
    run = _cli("fixed.png", "moving.tif", "-o", "out.tif", "--transform", "affine",
               "--report", "r.json", "--check", "check.png", cwd=folder)
    assert run.returncode == 0, run.stderr
    out = tifffile.imread(folder / "out.tif")
    assert out.shape == shape[:2] and out.dtype == np.uint16
    report = json.loads((folder / "r.json").read_text())
    assert report["transform"] == "affine"
    assert corner_error(report["matrix"], true, shape) <= TARGET
    assert report["metric"] < 0 and report["seconds"] > 0 and report["iterations"] > 0
    assert report["inputs"]["moving"]["dtype"] == "uint16"
    assert report["output"] == {"path": "out.tif", "shape": list(shape[:2]),
                                "dtype": "uint16"}
    assert report["scale"] == pytest.approx(0.5, abs=0.01)
    check = imagecodecs.png_decode((folder / "check.png").read_bytes())
    assert check.dtype == np.uint8 and check.ndim == 3 and check.shape[2] == 3
    assert check.shape[1] > 2 * shape[1]  # the whole image and the magnified corner
    assert "wrote out.tif" in run.stdout


@pytest.fixture
def bad_files(tmp_path):
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(imagecodecs.png_encode(np.full((30, 30), 128, np.uint8)))
    noise = tmp_path / "noise.png"
    noise.write_bytes(imagecodecs.png_encode(np.uint8(255 * _unrelated((128, 128)))))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return {"tiny": tiny, "noise": noise, "broken": broken}


def _outputs_of(folder):
    return {"out.png", "x.jpg", "r.json", "c.png", "out.tif"} & set(os.listdir(folder))


def test_cli_non_convergence_exits_2_and_writes_nothing(pair_files, bad_files, tmp_path):
    folder, _, _ = pair_files
    run = _cli(folder / "fixed.png", bad_files["noise"], "-o", "out.png", "--report",
               "r.json", "--check", "c.png", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("fastosmosis: error: registration did not converge")
    assert not _outputs_of(tmp_path)


@pytest.mark.parametrize("moving, output, message", [
    ("tiny", "out.png", "too small for a 3-level pyramid"),
    ("broken", "out.png", "broken.png: corrupt"),
    ("moving.tif", "x.jpg", "JPEG cannot hold 16-bit"),
])
def test_cli_errors_exit_2_and_write_nothing(pair_files, bad_files, tmp_path, capsys,
                                             moving, output, message):
    """The same ``main`` as the subprocess above, in this process (a second's import
    saved per case)."""
    from fastosmosis.cli import main

    folder, _, _ = pair_files
    moving = bad_files.get(moving, folder / moving)
    status = main(["register", str(folder / "fixed.png"), str(moving), "-o",
                   str(tmp_path / output), "--report", str(tmp_path / "r.json"), "--check",
                   str(tmp_path / "c.png")])
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("fastosmosis: error: ") and message in lines[-1]
    assert not _outputs_of(tmp_path)


def test_cli_levels_register_a_small_pair(tmp_path, capsys):
    """The faces shipped with the package (150 x 115) at half resolution: too small for
    the default three levels, registered with two."""
    import importlib.resources

    from fastosmosis.cli import main

    shipped = importlib.resources.files("fastosmosis.data") / "faces_foreground.png"
    fixed, moving, true = misaligned_pair(_read(shipped), scale=0.5, angle_degrees=3.0,
                                          shift=(2.1, -1.4))
    (tmp_path / "f.png").write_bytes(imagecodecs.png_encode(fixed))
    (tmp_path / "m.png").write_bytes(imagecodecs.png_encode(moving))
    args = ["register", str(tmp_path / "f.png"), str(tmp_path / "m.png"), "-o",
            str(tmp_path / "out.png"), "--report", str(tmp_path / "r.json")]
    assert main(args) == 2 and "too small for a 3-level" in capsys.readouterr().err
    assert main([*args, "--levels", "2"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["levels"] == 2 and corner_error(report["matrix"], true, fixed.shape) <= TARGET
    assert imagecodecs.png_decode((tmp_path / "out.png").read_bytes()).shape == fixed.shape[:2]


def test_cli_without_simpleitk_says_so(pair_files, tmp_path, capsys, monkeypatch):
    from fastosmosis.cli import main

    folder, _, _ = pair_files
    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    status = main(["register", str(folder / "fixed.png"), str(folder / "moving.tif"), "-o",
                   str(tmp_path / "out.tif")])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "registration needs SimpleITK" in err and "fastosmosis[register]" in err
    assert not _outputs_of(tmp_path)


# --- full size -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("scale, angle, shift", [(0.5, 5.0, (6.3, -4.7)),
                                                 (1.25, -4.0, (-9.0, 3.5))])
def test_full_size_pairs_reach_the_target(puppets, transform, scale, angle, shift):
    fixed, moving, true = misaligned_pair(puppets, scale=scale, angle_degrees=angle,
                                          shift=shift, seed=4)
    result = register(fixed, moving, transform=transform)
    assert corner_error(result.matrix, true, fixed.shape) <= TARGET


@pytest.mark.slow
def test_a_4_megapixel_pair_is_registered_reduced_and_reaches_the_target(puppets):
    from scipy import ndimage

    zoom = 3.4  # FIXED (the enlarged puppets less the margins) is about 4.2 Mpx
    big = np.stack([ndimage.zoom(puppets[..., c], zoom, order=1) for c in range(3)], axis=-1)
    fixed, moving, true = misaligned_pair(big, scale=0.5, angle_degrees=3.0,
                                          shift=(6.3, -4.7), seed=1)
    assert fixed.shape[0] * fixed.shape[1] > 4_000_000
    result = register(fixed, moving)
    assert result.registered_at[0] * result.registered_at[1] <= 1_000_000
    assert result.registered.shape == fixed.shape[:2]
    assert corner_error(result.matrix, true, fixed.shape) <= TARGET
