"""``fastosmosis compare``: end to end on tiny images, every method of Table I."""

import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import fastosmosis
from fastosmosis.baselines import (
    direct_matting,
    guided_fusion,
    linear_osmosis,
    poisson,
    spectral_fusion,
    structure_aware,
)
from fastosmosis.cli import main
from fastosmosis.compare import PAPER_TABLE_I
from fastosmosis.metrics import brisque, chromaticity_score, fmi

H, W = 18, 16  # BRISQUE needs 16 pixels on a side


def _8bit(x):
    return np.rint(np.clip(x, 0, 1) * 255) / 255


def _inputs(folder, grey=False):
    rng = np.random.default_rng(3)
    shape = (H, W) if grey else (H, W, 3)
    f = rng.integers(20, 256, shape, dtype=np.uint8)
    b = rng.integers(20, 256, shape, dtype=np.uint8)
    f[0, 0] = 0  # one pixel with a zero channel: left out of the score
    alpha = np.full((H, W), 255, np.uint8)
    alpha[4:10, 3:8] = 0
    alpha[3, 3:8] = 128
    paths = []
    for name, image in (("f", f), ("b", b), ("alpha", alpha)):
        path = os.path.join(folder, f"{name}.png")
        iio.imwrite(path, image)
        paths.append(path)
    return paths, (f / 255, b / 255, alpha / 255)


def _compare(*args):
    return subprocess.run([sys.executable, "-m", "fastosmosis", "compare", *args],
                          capture_output=True, text=True, timeout=300)


def _row(table, label):
    line = next(line for line in table.splitlines() if line.startswith(label))
    return line[len(label):].split()


def test_compare_end_to_end(tmp_path):
    paths, (f, b, alpha) = _inputs(str(tmp_path))
    out = tmp_path / "out"
    run = _compare(*paths, "-o", str(out), "--alpha-blur", "1", "--max-iter", "3",
                   "--eta", "0.2")
    assert run.returncode == 0, run.stderr
    table = run.stdout
    blurred = gaussian_filter((alpha == 1).astype(float), 1)
    mask = blurred > 0

    # the scores printed (4 decimals: within 5e-5) are those of the library's methods on
    # the blurred alpha, every method getting the same map, fuse with the flags given
    fuse = dict(eta=0.2, max_iter=3)
    expected = {
        "direct matting": direct_matting(f, b, blurred),
        "structure-aware": structure_aware(f, b, blurred),
        "guided filter": guided_fusion(f, b, blurred),
        "Poisson": poisson(f, b, blurred),
        "spectral": spectral_fusion(f, b, blurred),
        "linear osmosis": linear_osmosis(f, b, blurred),
        "fuse (exact)": fastosmosis.fuse(f, b, blurred, scheme="exact", **fuse).u,
        "fuse (paper)": fastosmosis.fuse(f, b, blurred, scheme="paper", **fuse).u,
    }
    f8, b8 = _8bit(f), _8bit(b)
    for label, u in expected.items():
        # all, alpha>0, BRISQUE, FMI, seconds, the paper's three, left out "1 / 1", note
        cells = _row(table, label)
        assert float(cells[0]) == pytest.approx(chromaticity_score(u, f), abs=6e-5), label
        assert float(cells[1]) == pytest.approx(chromaticity_score(u, f, mask), abs=6e-5), \
            label
        assert float(cells[2]) == pytest.approx(brisque(_8bit(u)), abs=0.051), label
        assert float(cells[3]) == pytest.approx(fmi(f8, b8, _8bit(u), feature="edge"),
                                                abs=6e-4), label
        assert float(cells[4]) >= 0
        paper = PAPER_TABLE_I[label.split(" (")[0]]
        assert [float(x) for x in cells[5:8]] == list(paper), label
        assert cells[8:11] == ["1", "/", "1"]  # the pixel with a zero channel, alpha = 1
    # both schemes ran, each to the 3 iterations asked for, by its own solver
    assert _row(table, "fuse (exact)")[11:] == ["3/3/3", "iterations", "(bcd)"]
    assert _row(table, "fuse (paper)")[11:] == ["3/3/3", "iterations", "(ipiano)"]
    assert "skipped" not in table
    assert [line.split("  ")[0] for line in table.splitlines()[2:10]] == list(expected)

    # every result is written, 8-bit like the foreground
    for stem in ("direct_matting", "structure_aware", "guided_filter", "poisson", "spectral",
                 "linear_osmosis", "fuse_exact", "fuse_paper"):
        image = iio.imread(out / f"{stem}.png")
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
    expected = np.rint(np.clip(poisson(f, b, blurred), 0, 1) * 255)
    np.testing.assert_array_equal(iio.imread(out / "poisson.png"), expected)
    assert (out / "table.txt").read_text() in table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in run.stderr
    else:
        picture = iio.imread(out / "compare.png")
        assert picture.ndim == 3 and picture.shape[1] > picture.shape[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    paths, _ = _inputs(str(tmp_path))
    small = tmp_path / "small.png"
    iio.imwrite(small, np.zeros((H - 1, W), np.uint8))
    out = tmp_path / "out"
    run = _compare(paths[0], paths[1], str(small), "-o", str(out))
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1
    assert "small.png" in run.stderr and "size" in run.stderr
    assert not out.exists() or not any(out.iterdir())
    run = _compare(paths[0], str(tmp_path / "missing.png"), paths[2], "-o", str(out))
    assert run.returncode == 2 and "missing.png" in run.stderr
    run = _compare(*paths, "-o", str(out), "--mu", "oops")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    # an input where an output would go is refused before any work
    out.mkdir(exist_ok=True)
    inside = out / "poisson.png"
    inside.write_bytes(open(paths[1], "rb").read())
    run = _compare(paths[0], str(inside), paths[2], "-o", str(out))
    assert run.returncode == 2 and "overwrite an input" in run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["poisson.png"]


def test_grey_one_scheme_and_no_matplotlib(tmp_path, monkeypatch, capsys):
    paths, (f, b, alpha) = _inputs(str(tmp_path), grey=True)
    out = tmp_path / "out"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    assert main(["compare", *paths, "-o", str(out), "--scheme", "exact",
                 "--max-iter", "2"]) == 0
    captured = capsys.readouterr()
    assert "matplotlib is not installed" in captured.err
    assert "needs RGB" in captured.out
    assert _row(captured.out, "direct matting")[:2] == ["-", "-"]
    assert "fuse (paper)" not in captured.out
    assert sorted(p.name for p in out.iterdir()) == [
        "direct_matting.png", "fuse_exact.png", "guided_filter.png", "linear_osmosis.png",
        "poisson.png", "spectral.png", "structure_aware.png", "table.txt"]
    np.testing.assert_array_equal(
        iio.imread(out / "direct_matting.png"),
        np.rint(np.clip(direct_matting(f, b, alpha), 0, 1) * 255))


def test_without_opencv_brisque_is_skipped_with_the_hint_and_the_rest_runs(
        tmp_path, monkeypatch, capsys):
    paths, (f, b, alpha) = _inputs(str(tmp_path))
    out = tmp_path / "out"
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 fails
    assert main(["compare", *paths, "-o", str(out), "--scheme", "exact", "--max-iter", "2",
                 "--fmi-feature", "pixel"]) == 0
    table = capsys.readouterr().out
    assert "BRISQUE skipped: the BRISQUE score needs opencv-contrib-python-headless" in table
    assert "python3 -m pip install 'fastosmosis[brisque]'" in table
    f8, b8 = _8bit(f), _8bit(b)
    u = structure_aware(f, b, alpha)
    for label in ("direct matting", "structure-aware", "guided filter", "Poisson",
                  "spectral", "linear osmosis", "fuse (exact)"):
        cells = _row(table, label)
        assert cells[2] == "-", label  # no BRISQUE
        assert float(cells[0]) >= 0 and float(cells[3]) > 0, label  # the other scores
    assert float(_row(table, "structure-aware")[3]) == pytest.approx(
        fmi(f8, b8, _8bit(u), feature="pixel"), abs=6e-4)
    assert (out / "table.txt").read_text() in table
    assert len([p for p in out.iterdir() if p.suffix == ".png"]) >= 7


def test_a_method_missing_its_dependency_is_skipped_with_the_hint(monkeypatch):
    from fastosmosis import baselines, compare
    from fastosmosis._optional import require

    def needs_opencv(f, b, alpha):
        require("cv2", "this method")
        raise AssertionError("cv2 imported although it is missing")

    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setattr(baselines, "guided_fusion", needs_opencv)
    rng = np.random.default_rng(5)
    f, b = rng.uniform(0.1, 1, (2, 8, 7, 3))
    alpha = np.ones((8, 7))
    alpha[2:5, 2:5] = 0
    rows, skipped = compare.run_methods(compare.methods({}, ()), f, b, alpha)
    by_label = {r["label"]: r for r in rows}
    row = by_label["guided filter"]
    assert row["u"] is None and row["note"].startswith("skipped: this method needs")
    assert "python3 -m pip install 'fastosmosis[brisque]'" in row["note"]
    assert all(r["u"] is not None for label, r in by_label.items() if label != "guided filter")
    assert "BRISQUE" not in skipped  # 8 x 7 is below BRISQUE's size: not tried
    assert "skipped: this method needs" in compare.table(rows, f, alpha, skipped)
