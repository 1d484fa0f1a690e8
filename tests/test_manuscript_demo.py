"""The manuscript demonstration (issue 16, item 4): ``fastosmosis demo --manuscript``.

One real process runs the command end to end (files, bit depths, the report, the
picture, the corner error it prints); the same files then go through the three separate
commands (``register``, ``alpha``, ``fuse``, in-process), which must give the demo's
result bit for bit. The pair itself, the picture's layout and the errors are checked on
arrays and in-process, where they are cheap.
"""

import json
import re
import sys

import numpy as np
import pytest

from fastosmosis import cli
from fastosmosis import io as fio
from fastosmosis import manuscript_demo as md
from fastosmosis.matting import trimap_from_alpha
from fastosmosis.registration import resample
from fastosmosis.report import similarity_of
from fastosmosis.synthetic import corner_error, luminance
from tests.test_cli import run_cli

MAX_ITER = "3"  # the fusion's iterations in these runs: the files, not the solver, are tested
FUSE_FLAGS = ["--eta", "0.1", "--mu", "100", "--gamma", "1", "--alpha-blur", "2.5",
              "--max-iter", MAX_ITER]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's folder and its process, run once for the module."""
    cwd = tmp_path_factory.mktemp("manuscript")
    r = run_cli("demo", "--manuscript", "-o", "out", "--max-iter", MAX_ITER, cwd=cwd)
    return cwd, r


def test_demo_writes_the_pair_the_steps_and_the_picture(demo):
    cwd, r = demo
    assert r.returncode == 0, r.stderr
    folder = cwd / "out"
    assert sorted(p.name for p in folder.iterdir()) == sorted(md.FILES.values())
    shapes = {}
    for role in ("visible", "infrared", "trimap", "registered", "alpha", "fused"):
        image, info = fio.read_image(folder / md.FILES[role])
        assert info.dtype == np.uint8, role
        shapes[role] = image.shape
    # the visible scan: 300 x 230 (2x the shipped faces) less a 6 % margin of 14 px a side
    assert shapes["visible"] == shapes["fused"] == (272, 202, 3)
    assert shapes["infrared"] == (204, 152)  # at 0.75 of the visible's resolution, grey
    assert shapes["trimap"] == shapes["registered"] == shapes["alpha"] == (272, 202)
    trimap, _ = fio.read_image(folder / "trimap.png")
    assert set(np.unique(trimap)) == {0, 128, 255}

    report = json.loads((folder / "report.json").read_text())
    shown = report["demonstration"]
    assert shown["infrared"]["scale"] == md.SCALE
    assert shown["infrared"]["angle_degrees"] == md.ANGLE_DEGREES
    error = corner_error(report["registration"]["matrix"], shown["true_matrix"], (272, 202))
    assert error == pytest.approx(shown["corner_error_px"])
    assert error < 0.5  # the target, at the visible scan's resolution
    printed = re.search(r"corner error ([0-9.]+) px", r.stdout)
    assert printed and float(printed.group(1)) == pytest.approx(error, abs=5e-4)
    assert report["matting"]["method"] == "knn" and report["parameters"]["eta"] == 0.1
    assert "Euler" in (folder / "ATTRIBUTION.txt").read_text()

    picture, info = fio.read_image(folder / "manuscript-demo.jpg")
    gap = 4  # two rows of three cells of the visible's size
    assert picture.shape == (2 * 272 + 3 * gap, 3 * 202 + 4 * gap, 3)
    fused, _ = fio.read_image(folder / "fused.png")
    corner = picture[2 * gap + 272:, 3 * gap + 2 * 202:][:272, :202]  # JPEG: close, not equal
    assert np.mean(np.abs(corner.astype(float) - fused)) < 4.0


def test_the_three_commands_give_the_demo_result_bit_for_bit(demo, tmp_path, monkeypatch):
    cwd, r = demo
    assert r.returncode == 0, r.stderr
    monkeypatch.chdir(cwd / "out")
    steps = [
        ["register", "visible.png", "infrared.png", "-o", str(tmp_path / "reg.png")],
        ["alpha", "visible.png", "trimap.png", "-o", str(tmp_path / "alpha.png")],
        ["fuse", "visible.png", str(tmp_path / "reg.png"), str(tmp_path / "alpha.png"),
         "-o", str(tmp_path / "fused.png"), *FUSE_FLAGS],
    ]
    for argv in steps:
        assert cli.main([*argv, "--quiet"]) == 0, argv
    for mine, theirs in (("reg.png", "infrared-registered.png"), ("alpha.png", "alpha.png"),
                         ("fused.png", "fused.png")):
        np.testing.assert_array_equal(fio.read_image(tmp_path / mine)[0],
                                      fio.read_image(cwd / "out" / theirs)[0])


def test_the_pair_hides_the_second_face_in_the_infrared_only():
    pair = md.shipped_pair()
    assert pair.visible.shape == pair.scene.shape == (272, 202, 3)
    np.testing.assert_array_equal(pair.trimap, trimap_from_alpha(pair.alpha, erode=md.ERODE))
    keep, hidden = pair.alpha == 255, pair.alpha == 0
    assert keep.mean() > 0.8 and hidden.sum() > 2000  # the face is the hidden part
    np.testing.assert_array_equal(pair.scene[keep], pair.visible[keep])
    # in the hidden part the infrared camera sees another picture than the visible one
    assert np.mean(np.abs(pair.scene[hidden].astype(float) - pair.visible[hidden])) > 20
    # the infrared brought back by the true map follows the scene's luminance, through
    # the partly inverted response (light at both ends): correlated with |L - turn|
    back = resample(pair.infrared, pair.true_matrix, pair.visible.shape).astype(float)
    inside = np.zeros(back.shape, bool)
    inside[20:-20, 20:-20] = True
    turned = np.abs(luminance(pair.scene) - 0.35)
    assert np.corrcoef(back[inside], turned[inside])[0, 1] > 0.8
    found = similarity_of(pair.true_matrix)  # the documented misalignment
    assert found["scale"] == pytest.approx(md.SCALE)
    assert found["rotation_degrees"] == pytest.approx(md.ANGLE_DEGREES)


def test_upsample_keeps_the_type_and_interpolates():
    x = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    big = md.upsample(x, 2)
    assert big.shape == (6, 8) and big.dtype == np.uint8
    assert big.min() >= x.min() and big.max() <= x.max()  # overshoot clipped
    flat = np.full((4, 5, 3), 0.25, np.float32)
    np.testing.assert_allclose(md.upsample(flat, 3), 0.25, atol=1e-6)
    with pytest.raises(ValueError, match="factor"):
        md.upsample(x, 0)
    with pytest.raises(TypeError, match="factor"):
        md.upsample(x, 1.5)
    with pytest.raises(TypeError, match="image: unsupported dtype"):
        md.upsample(x > 5, 2)


def test_grid_centres_a_smaller_image_on_the_backdrop():
    big = np.full((6, 4, 3), 0.5)
    small = np.ones((2, 2))
    out = md.grid([[big, small], [small]], gap=1)
    assert out.shape == (2 * 6 + 3, 2 * 4 + 3, 3)
    np.testing.assert_array_equal(out[1:7, 1:5], 128)  # the full cell
    cell = out[1:7, 6:10]  # the small one, centred, grey around it
    np.testing.assert_array_equal(cell[2:4, 1:3], 255)
    assert (cell[0, :] == md.BACKDROP).all() and (cell[:, 0] == md.BACKDROP).all()
    assert (out[8:14, 6:10] == md.BACKDROP).all()  # the short second row is filled


def test_demo_pair_refuses_bad_input():
    rgb = np.zeros((40, 40, 3), np.uint8)
    mask = np.full((40, 40), 255, np.uint8)
    with pytest.raises(TypeError, match="visible: expected uint8"):
        md.demo_pair(rgb.astype(np.float32), rgb, mask)
    with pytest.raises(ValueError, match="alpha: expected H x W"):
        md.demo_pair(rgb, rgb, rgb)
    with pytest.raises(ValueError, match="sizes differ"):
        md.demo_pair(rgb, rgb[:30], mask)


@pytest.mark.parametrize("module,extra", [("SimpleITK", "register"), ("pymatting", "alpha")])
def test_a_missing_extra_is_named_and_nothing_written(module, extra, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    assert cli.main(["demo", "--manuscript", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"fastosmosis[{extra}]" in err
    assert not (tmp_path / "out").exists()


def test_a_file_in_the_way_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "out").write_text("a file")
    assert cli.main(["demo", "--manuscript", "-o", str(tmp_path / "out")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "fused.png").mkdir()  # an output that cannot be written
    assert cli.main(["demo", "--manuscript", "-o", str(tmp_path / "dir")]) == 2
    assert "fused.png: is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["fused.png"]


def test_run_demo_refuses_a_bad_keyword_before_writing(tmp_path):
    with pytest.raises(ValueError, match="eta"):
        md.run_demo(tmp_path / "out", eta=-1.0)
    with pytest.raises(TypeError, match="colour"):
        md.run_demo(tmp_path / "out", colour="red")
    with pytest.raises(TypeError, match="out_dir"):
        md.run_demo(3)
    assert not (tmp_path / "out").exists()
