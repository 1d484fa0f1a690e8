"""One fusion from files to files (fastosmosis.jobs.fuse_files) and ``fastosmosis fuse``'s
steps from raw scans (``--register``, ``--trimap``), on tiny files made here.

The library is called in-process; the command line once end to end in subprocesses (the
one command against the three steps it stands for) and in-process for its errors.
"""

import hashlib
import importlib.resources
import json
import os
import re
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import fastosmosis
from fastosmosis import cli, jobs
from fastosmosis import io as fio
from fastosmosis._manifest import fuse_keywords
from fastosmosis._optional import MissingDependencyError
from fastosmosis.jobs import fuse_files

H, W = 16, 12
FAST = {"max_iter": 3, "threads": 1}
FAST_FLAGS = ["--max-iter", "3", "--threads", "1"]
RNG = np.random.default_rng(11)


def _u8(shape):
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _mask(dtype=np.uint8):
    a = np.zeros((H, W), dtype)
    a[:, : W // 2] = np.iinfo(dtype).max
    return a


def _trimap(dtype=np.uint8):
    t = np.full((H, W), np.iinfo(dtype).max // 2, dtype)
    t[:, : W // 2 - 2] = np.iinfo(dtype).max
    t[:, W // 2 + 2:] = 0
    return t


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def pair(tmp_path):
    """8-bit RGB foreground and background PNGs, a grey alpha PNG and a trimap PNG."""
    iio.imwrite(tmp_path / "fg.png", _u8((H, W, 3)))
    iio.imwrite(tmp_path / "bg.png", _u8((H, W, 3)))
    iio.imwrite(tmp_path / "alpha.png", _mask())
    iio.imwrite(tmp_path / "trimap.png", _trimap())
    return tmp_path


# ---------------------------------------------------------------- the library


def test_fuse_files_writes_every_output_and_its_report(pair):
    said = []
    p = {name: str(pair / name) for name in
         ("fg.png", "bg.png", "alpha.png", "out.png", "v.tif", "r.json")}
    done = fuse_files(p["fg.png"], p["bg.png"], p["out.png"], alpha=p["alpha.png"],
                      save_v=p["v.tif"], report=p["r.json"], notes=said.append, eta=0.2,
                      **FAST)
    assert done.written == (p["out.png"], p["v.tif"], p["r.json"])
    assert said == [] and done.notes == ()
    # the result is fuse's on the same samples, at the foreground's bit depth
    (f, b, a), _, _ = fastosmosis.inputs.read_inputs(p["fg.png"], p["bg.png"],
                                                     p["alpha.png"], as_float=False)
    expected = fastosmosis.fuse(f, b, a, eta=0.2, **FAST)
    out, info = fio.read_image(p["out.png"])
    assert info.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, np.rint(np.clip(expected.u, 0, 1) * 255))
    v, v_info = fio.read_image(p["v.tif"])
    assert v_info.dtype == np.uint8 and v.shape == (H, W, 3)

    report = json.loads((pair / "r.json").read_text())
    assert report == done.report
    assert {"parameters", "inputs", "output", "iterations", "seconds", "versions"} <= set(report)
    assert set(fuse_keywords()) <= set(report["parameters"])
    assert report["parameters"]["eta"] == 0.2 and report["parameters"]["max_iter"] == 3
    assert report["iterations"] == list(done.iterations) == [3, 3, 3]
    assert {"fastosmosis", "numpy", "numba", "python"} <= set(report["versions"])
    assert report["command"] is None and "registration" not in report and "matting" not in report
    for role, name in (("foreground", "fg.png"), ("background", "bg.png"),
                       ("alpha", "alpha.png")):
        entry = report["inputs"][role]
        assert entry["path"] == p[name] and entry["sha256"] == _sha(pair / name)
        assert entry["dtype"] == "uint8"
    assert report["inputs"]["foreground"]["shape"] == [H, W, 3]
    assert report["output"] == {"path": p["out.png"], "shape": [H, W, 3], "dtype": "uint8",
                                "v_path": p["v.tif"]}


def test_notes_and_grey_background(pair):
    iio.imwrite(pair / "fga.png", np.dstack([_u8((H, W, 3)), _mask()]))
    iio.imwrite(pair / "grey.png", _u8((H, W)))
    said = []
    done = fuse_files(pair / "fga.png", pair / "grey.png", pair / "o.png",
                      alpha=pair / "alpha.png", notes=said.append, **FAST)
    assert said == [
        f"{pair / 'fga.png'}: alpha channel dropped (give ALPHA as '-' to use it as the "
        "alpha map)",
        f"{pair / 'grey.png'}: grey image used as RGB to match the other image",
    ]
    assert done.notes == tuple(said)
    assert fio.read_image(pair / "o.png")[0].shape == (H, W, 3)
    # '-': the foreground's alpha channel, no note for it, no hash of its own
    done = fuse_files(pair / "fga.png", pair / "grey.png", pair / "o2.png", alpha="-",
                      **FAST)
    assert done.report["inputs"]["alpha"] == {"path": "-", "source": "foreground alpha channel",
                                              "shape": [H, W]}
    assert done.notes == (f"{pair / 'grey.png'}: grey image used as RGB to match the other "
                          "image",)


def test_trimap_alpha_is_the_saved_alpha_at_16_bits(tmp_path):
    for name in ("fg.tif", "bg.tif"):
        tifffile.imwrite(tmp_path / name, RNG.integers(0, 65536, (H, W, 3), dtype=np.uint16),
                         photometric="rgb")
    iio.imwrite(tmp_path / "t.png", _trimap())
    done = fuse_files(tmp_path / "fg.tif", tmp_path / "bg.tif", tmp_path / "out.tif",
                      trimap=tmp_path / "t.png", matting="cf", save_alpha=tmp_path / "a.png",
                      **FAST)
    alpha, info = fio.read_image(tmp_path / "a.png")
    assert info.dtype == np.uint16 and alpha.shape == (H, W)  # the foreground's bit depth
    t = _trimap()
    assert np.all(alpha[t == 255] == 65535) and np.all(alpha[t == 0] == 0)
    section = done.report["matting"]
    assert section["method"] == "cf" and section["solved_shape"] == [H, W]
    assert section["path"] == str(tmp_path / "a.png") and section["seconds"] > 0
    assert done.report["inputs"]["trimap"]["sha256"] == _sha(tmp_path / "t.png")
    assert done.report["inputs"]["alpha"] == {"path": None, "source": "trimap",
                                              "shape": [H, W]}
    assert any("alpha by CF matting at 16 x 12" in line for line in done.notes)
    # fusing under the saved alpha file gives the same result, bit for bit
    fuse_files(tmp_path / "fg.tif", tmp_path / "bg.tif", tmp_path / "again.tif",
               alpha=tmp_path / "a.png", **FAST)
    assert (tmp_path / "again.tif").read_bytes() == (tmp_path / "out.tif").read_bytes()
    assert fio.read_image(tmp_path / "out.tif")[1].dtype == np.uint16


def test_a_failing_write_leaves_nothing(pair, monkeypatch):
    before = _files(pair)
    calls = []

    def fsync(fd):  # the disk fills up while the third of four files is written
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="No space left"):
        fuse_files(pair / "fg.png", pair / "bg.png", pair / "out.png",
                   trimap=pair / "trimap.png", matting="cf", save_v=pair / "v.png",
                   save_alpha=pair / "a.png", report=pair / "r.json", **FAST)
    assert len(calls) == 3
    assert _files(pair) == before  # no output, no temporary file


@pytest.mark.parametrize("kwargs,error,match", [
    ({"alpha": "alpha.png", "trimap": "trimap.png"}, ValueError, "not both"),
    ({}, ValueError, "give alpha"),
    ({"alpha": "alpha.png", "register": "rigid"}, ValueError, "register: unknown value"),
    ({"trimap": "trimap.png", "matting": "magic"}, ValueError, "matting: unknown value"),
    ({"alpha": "alpha.png", "save_registered": "r.png"}, ValueError, "without register"),
    ({"alpha": "alpha.png", "save_alpha": "a.png"}, ValueError, "save_alpha: the alpha map "
                                                                "is made only from a trimap"),
    ({"alpha": "alpha.png", "bit_depth": "12"}, ValueError, "bit_depth"),
    ({"alpha": "alpha.png", "eta": -1.0}, ValueError, "eta: must be non-negative"),
    ({"alpha": "alpha.png", "scheme": "paper", "solver": "bcd"}, ValueError, "solver:"),
    ({"alpha": "alpha.png", "etta": 0.1}, TypeError, "etta: not a keyword"),
    ({"alpha": "alpha.png", "return_v": True}, TypeError, "return_v: set by the job"),
    ({"alpha": 3}, TypeError, "alpha: expected a file path"),
])
def test_bad_options_are_refused_before_reading(pair, monkeypatch, kwargs, error, match):
    monkeypatch.setattr(fastosmosis.inputs, "read_image", _no_reading)
    monkeypatch.chdir(pair)
    before = _files(pair)
    with pytest.raises(error, match=match):
        fuse_files("fg.png", "bg.png", "out.png", **kwargs)
    assert _files(pair) == before


def test_bad_inputs_are_refused_before_any_step(pair, monkeypatch):
    def no_step(*args, **kwargs):
        raise AssertionError("a step ran before the inputs were checked")

    monkeypatch.setattr(fastosmosis.registration, "register", no_step)
    monkeypatch.setattr(fastosmosis.matting, "alpha_from_trimap", no_step)
    monkeypatch.chdir(pair)
    iio.imwrite(pair / "unknown.png", np.full((H, W), 128, np.uint8))
    iio.imwrite(pair / "small.png", _u8((H // 2, W)))
    before = _files(pair)
    cases = [
        ({"trimap": "unknown.png", "register": "similarity"}, "no pixel is known foreground"),
        ({"trimap": "small.png"}, "small.png: size 8 x 12 differs"),
        ({"trimap": "trimap.png", "save_alpha": "fg.png"}, "refusing to overwrite"),
        ({"trimap": "trimap.png", "save_alpha": "out.png"}, "given both as output and as "
                                                            "save_alpha"),
        ({"trimap": "trimap.png", "register": "affine", "save_registered": "r.jpg",
          "save_v": "v.gif"}, "unknown output format"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            fuse_files("fg.png", "bg.png", "out.png", **kwargs)
    assert _files(pair) == before


def test_a_registration_that_fails_writes_nothing(tmp_path):
    from fastosmosis.registration import RegistrationError

    noise = np.random.default_rng(0)
    iio.imwrite(tmp_path / "vis.png", noise.integers(0, 256, (120, 120, 3), dtype=np.uint8))
    iio.imwrite(tmp_path / "ir.png", noise.integers(0, 256, (100, 90), dtype=np.uint8))
    iio.imwrite(tmp_path / "small.png", noise.integers(0, 256, (60, 50), dtype=np.uint8))
    a = np.zeros((120, 120), np.uint8)
    a[:, :60] = 255
    iio.imwrite(tmp_path / "alpha.png", a)
    before = _files(tmp_path)
    outputs = {"save_registered": tmp_path / "r.png", "report": tmp_path / "r.json"}
    with pytest.raises(RegistrationError, match="did not converge"):  # noise onto noise
        fuse_files(tmp_path / "vis.png", tmp_path / "ir.png", tmp_path / "o.png",
                   alpha=tmp_path / "alpha.png", register="similarity", **outputs, **FAST)
    # the step's own words name the file, not its argument ("moving: ...")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(tmp_path / 'small.png'))}: 60 x 50 "
                       "is too small for a 3-level pyramid"):
        fuse_files(tmp_path / "vis.png", tmp_path / "small.png", tmp_path / "o.png",
                   alpha=tmp_path / "alpha.png", register="affine", **outputs, **FAST)
    assert _files(tmp_path) == before


def _no_reading(path):
    raise AssertionError(f"read {path} before the options were checked")


def test_missing_extras_are_said_before_reading(pair, monkeypatch):
    monkeypatch.setattr(fastosmosis.inputs, "read_image", _no_reading)
    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    monkeypatch.setitem(sys.modules, "pymatting", None)
    with pytest.raises(MissingDependencyError, match=r"fastosmosis\[register\]"):
        fuse_files(pair / "fg.png", pair / "bg.png", pair / "o.png", alpha=pair / "alpha.png",
                   register="similarity")
    with pytest.raises(MissingDependencyError, match=r"fastosmosis\[alpha\]"):
        fuse_files(pair / "fg.png", pair / "bg.png", pair / "o.png", trimap=pair / "t.png")


def test_a_prepared_job_runs_once(pair):
    job = jobs.prepare_files(pair / "fg.png", pair / "bg.png", pair / "o.png",
                             alpha=pair / "alpha.png", **FAST)
    assert job.channels == 3 and job.shape == (H, W, 3)
    with pytest.raises(TypeError, match="notes: expected a callable"):
        jobs.run_job(job, notes="print")
    assert not (pair / "o.png").exists()
    done = jobs.run_job(job)
    assert done.written == (str(pair / "o.png"),) and done.fusion.u is None
    assert done.fusion.iterations == [3, 3, 3]
    with pytest.raises(ValueError, match="has run already"):
        jobs.run_job(job)


def test_similarity_of_a_matrix():
    from fastosmosis.report import similarity_of

    a = np.deg2rad(3.0)
    m = np.array([[0.5 * np.cos(a), -0.5 * np.sin(a), 4.0],
                  [0.5 * np.sin(a), 0.5 * np.cos(a), -2.5], [0.0, 0.0, 1.0]])
    found = similarity_of(m)
    assert found["scale"] == pytest.approx(0.5) and found["shift"] == [4.0, -2.5]
    assert found["rotation_degrees"] == pytest.approx(3.0)
    sheared = m.copy()
    sheared[:2, :2] = sheared[:2, :2] @ np.array([[1.2, 0.1], [0.0, 0.8]])  # affine
    found = similarity_of(sheared)
    assert found["scale"] == pytest.approx(0.5 * np.sqrt(0.96))  # sqrt(|det|)
    u, _, vt = np.linalg.svd(sheared[:2, :2])  # the rotation nearest A: polar U V^T
    nearest = u @ vt
    assert found["rotation_degrees"] == pytest.approx(
        np.degrees(np.arctan2(nearest[1, 0], nearest[0, 0])))


# ---------------------------------------------------------------- the command line


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastosmosis", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def scans(tmp_path):
    """A colour scan, a grey synthetic infrared of it misaligned (0.8x the resolution,
    rotated 2 degrees, shifted) and a trimap from the example's alpha map."""
    from fastosmosis.matting import trimap_from_alpha
    from fastosmosis.synthetic import MARGIN, misaligned_pair

    data = importlib.resources.files("fastosmosis.data")
    visible, _ = fio.read_image(data / "faces_foreground.png")
    alpha, _ = fio.read_image(data / "faces_alpha.png")
    fixed, moving, _ = misaligned_pair(visible, scale=0.8, angle_degrees=2.0,
                                       shift=(1.5, -1.0))
    m = int(round(MARGIN * min(visible.shape[:2])))
    alpha = alpha[m:alpha.shape[0] - m, m:alpha.shape[1] - m]
    iio.imwrite(tmp_path / "vis.png", fixed)
    iio.imwrite(tmp_path / "ir.png", moving)
    iio.imwrite(tmp_path / "trimap.png", trimap_from_alpha(alpha, erode=3))
    return tmp_path


def test_fuse_trimap_register_equals_the_three_steps(scans, monkeypatch, capsys):
    r = _run("fuse", "vis.png", "ir.png", "-o", "out.png", "--trimap", "trimap.png",
             "--register", "--save-alpha", "a.png", "--save-registered", "reg.png",
             "--report", "r.json", *FAST_FLAGS, cwd=scans)
    assert r.returncode == 0, r.stderr
    said = re.search(r"note: ir\.png: registered onto vis\.png \(similarity\): scale "
                     r"([\d.]+) .* rotation ([\d.]+) degrees.*; Mattes metric -", r.stderr)
    assert said and abs(float(said[1]) - 0.8) < 0.01 and abs(float(said[2]) - 2) < 0.2
    assert "trimap.png: alpha by KNN matting at 136 x 101" in r.stderr
    assert "ir.png: grey image used as RGB" in r.stderr
    assert "wrote out.png (136 x 101 x 3, uint8), a.png, reg.png, r.json" in r.stdout

    monkeypatch.chdir(scans)  # the three commands, in this process (a process start each
    for args in (("register", "vis.png", "ir.png", "-o", "reg3.png"),  # costs seconds)
                 ("alpha", "vis.png", "trimap.png", "-o", "a3.png"),
                 ("fuse", "vis.png", "reg3.png", "a3.png", "-o", "out3.png", *FAST_FLAGS)):
        assert cli.main(list(args)) == 0, capsys.readouterr().err
    for one, three in (("reg.png", "reg3.png"), ("a.png", "a3.png"), ("out.png", "out3.png")):
        assert (scans / one).read_bytes() == (scans / three).read_bytes(), one
    registered, info = fio.read_image(scans / "reg.png")
    assert registered.shape == (136, 101) and info.dtype == np.uint8  # the infrared's kind

    report = json.loads((scans / "r.json").read_text())
    reg = report["registration"]
    assert reg["transform"] == "similarity" and np.asarray(reg["matrix"]).shape == (3, 3)
    assert abs(reg["scale"] - 0.8) < 0.01 and abs(reg["rotation_degrees"] - 2.0) < 0.2
    assert reg["metric"] < 0 and reg["seconds"] > 0 and reg["path"] == "reg.png"
    assert report["matting"]["solved_shape"] == [136, 101]
    assert report["inputs"]["background"]["shape"] == [109, 81]
    assert report["command"][:3] == ["fastosmosis", "fuse", "vis.png"]


@pytest.mark.parametrize("args,expected", [
    (["fg.png", "bg.png", "alpha.png", "-o", "o.png", "--trimap", "trimap.png"],
     "give ALPHA or --trimap T, not both"),
    (["fg.png", "bg.png", "-o", "o.png"], "give ALPHA (an alpha map file, or '-') or "
                                          "--trimap T"),
    (["fg.png", "bg.png", "-o", "o.png", "--trimap", "trimap.png", "alpha.png"],
     "give ALPHA or --trimap T, not both"),  # ALPHA may come after the options
    (["fg.png", "bg.png", "alpha.png", "-o", "o.png", "--register", "rigid"],
     "argument --register: invalid choice: 'rigid'"),
    (["fg.png", "bg.png", "alpha.png", "-o", "o.png", "--save-registered", "r.png"],
     "--save-registered: needs --register"),
    (["fg.png", "bg.png", "alpha.png", "-o", "o.png", "--save-alpha", "a.png"],
     "--save-alpha: needs --trimap"),
    (["fg.png", "bg.png", "-o", "o.png", "--trimap", "trimap.png", "--matting", "x"],
     "argument --matting: invalid choice"),
    (["fg.png", "bg.png", "-o", "o.png", "--trimap", "trimap.png", "--save-alpha", "o.png"],
     "o.png: given both as -o and as --save-alpha"),
    (["fg.png", "bg.png", "-o", "o.png", "--trimap", "unknown.png"],
     "unknown.png: no pixel is known foreground"),
])
def test_cli_errors_one_line_exit_2_nothing_written(pair, capsys, monkeypatch, args,
                                                    expected):
    monkeypatch.chdir(pair)
    iio.imwrite(pair / "unknown.png", np.full((H, W), 128, np.uint8))
    before = _files(pair)
    assert cli.main(["fuse", *args, *FAST_FLAGS]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], captured.err
    assert _files(pair) == before
