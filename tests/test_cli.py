"""The ``fastosmosis`` command end to end: real processes on small files made here.

Every run that reaches the solver costs a Python start and Numba's cache loading
(seconds), so each such run checks several things at once; error paths stop before
the solver and are cheap. A few checks call ``cli.main`` in-process instead.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time

import imagecodecs
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import fastosmosis
from fastosmosis import cli
from fastosmosis import io as fio

H, W = 12, 10
RNG = np.random.default_rng(3)
FAST = ["--max-iter", "4", "--threads", "1"]


def run_cli(*args, cwd, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "fastosmosis", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _u8(shape):
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _u16(shape):
    return RNG.integers(0, 65536, size=shape, dtype=np.uint16)


def _mask(dtype=np.uint8, shape=(H, W)):
    a = np.zeros(shape, dtype)
    a[:, : shape[1] // 2] = np.iinfo(dtype).max
    return a


@pytest.fixture
def rgb8(tmp_path):
    """8-bit RGB foreground and background PNGs and a grey alpha PNG."""
    iio.imwrite(tmp_path / "fg.png", _u8((H, W, 3)))
    iio.imwrite(tmp_path / "bg.png", _u8((H, W, 3)))
    iio.imwrite(tmp_path / "alpha.png", _mask())
    return tmp_path


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- successful runs


def test_fuse_8bit_png_with_report_and_v(rgb8):
    r = run_cli(
        "fuse",
        "fg.png",
        "bg.png",
        "alpha.png",
        "-o",
        "out.png",
        "--save-v",
        "v.png",
        "--report",
        "report.json",
        "--eta",
        "0.2",
        "--init",
        "blend",
        "--no-warm-start",
        "--solver",
        "ipiano",
        *FAST,
        cwd=rgb8,
    )
    assert r.returncode == 0, r.stderr
    out, info = fio.read_image(rgb8 / "out.png")
    assert info.dtype == np.uint8 and out.shape == (H, W, 3)
    v, vinfo = fio.read_image(rgb8 / "v.png")
    assert vinfo.dtype == np.uint8 and v.shape == (H, W, 3)
    # where alpha = 1 the result stays close to the foreground
    fg = iio.imread(rgb8 / "fg.png").astype(int)
    assert np.abs(out[:, : W // 2].astype(int) - fg[:, : W // 2]).mean() < 40

    report = json.loads((rgb8 / "report.json").read_text())
    params = report["parameters"]
    assert params["eta"] == 0.2 and params["init"] == "blend" and params["warm_start"] is False
    assert params["max_iter"] == 4 and params["threads"] == 1 and params["mu"] == 100.0
    assert report["iterations"] == [4, 4, 4]
    assert len(report["channels"]) == 3
    for c, channel in enumerate(report["channels"]):
        assert channel["channel"] == c and channel["iterations"] == 4
        assert len(channel["energies"]) == 4 and channel["final_energy"] == channel["energies"][-1]
        assert channel["stop_reason"] == "max_iter"
        assert len(channel["pd_iterations"]) >= 4
        assert channel["pd_iterations_total"] == sum(channel["pd_iterations"]) > 0
        assert channel["energies"][-1] < channel["energies"][0]
    assert report["seconds"] > 0 and len(report["channel_seconds"]) == 3
    assert report["versions"]["fastosmosis"] == fastosmosis.__version__
    assert report["versions"]["numba"] and report["versions"]["numpy"]
    assert report["inputs"]["alpha"]["source"] == "file"
    assert report["output"] == {
        "path": "out.png",
        "shape": [H, W, 3],
        "dtype": "uint8",
        "v_path": "v.png",
    }
    # progress lines (stderr is not a terminal here), one summary line per channel
    assert "channel 1/3  iteration 1  energy" in r.stderr
    for c in (1, 2, 3):
        assert f"channel {c}/3: 4 iterations" in r.stderr
    assert "wrote out.png" in r.stdout
    assert not [name for name in _files(rgb8) if name.endswith(".part")]


def test_fuse_16bit_tiff_keeps_16_bits(tmp_path):
    tifffile.imwrite(tmp_path / "fg.tif", _u16((H, W, 3)), photometric="rgb")
    tifffile.imwrite(tmp_path / "bg.tif", _u16((H, W, 3)), photometric="rgb")
    (tmp_path / "alpha.png").write_bytes(imagecodecs.png_encode(_mask(np.uint16)))
    r = run_cli(
        "fuse",
        "fg.tif",
        "bg.tif",
        "alpha.png",
        "-o",
        "out.png",
        "--save-v",
        "v.tif",
        *FAST,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out, info = fio.read_image(tmp_path / "out.png")
    assert info.dtype == np.uint16 and out.shape == (H, W, 3)
    assert len(np.unique(out)) > 256  # really 16-bit content, not 8-bit scaled up
    v, vinfo = fio.read_image(tmp_path / "v.tif")
    assert vinfo.dtype == np.uint16 and v.shape == (H, W, 3)


def test_fuse_rgba_foreground_alpha_channel_as_alpha(tmp_path):
    rgba = np.dstack([_u8((H, W, 3)), _mask()])
    iio.imwrite(tmp_path / "fg.png", rgba)
    iio.imwrite(tmp_path / "bg.png", _u8((H, W, 3)))
    r = run_cli(
        "fuse", "fg.png", "bg.png", "-", "-o", "out.tif", "--report", "r.json", *FAST, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    out, info = fio.read_image(tmp_path / "out.tif")
    assert info.dtype == np.uint8 and out.shape == (H, W, 3) and info.format == "tiff"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["inputs"]["alpha"]["source"] == "foreground alpha channel"
    assert report["inputs"]["foreground"]["shape"] == [H, W, 4]


def test_fuse_grey_float_tiff(tmp_path):
    fg = RNG.random((H, W)).astype(np.float32)
    tifffile.imwrite(tmp_path / "fg.tif", fg)
    iio.imwrite(tmp_path / "bg.png", _u8((H, W)))
    iio.imwrite(tmp_path / "alpha.png", _mask())
    r = run_cli(
        "fuse", "fg.tif", "bg.png", "alpha.png", "-o", "out.tif", "--quiet", *FAST, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""  # --quiet: nothing at all
    out, info = fio.read_image(tmp_path / "out.tif")
    assert info.dtype == np.float32 and out.shape == (H, W)
    assert out.min() >= 0.0 and out.max() <= 1.0  # clipped to the range
    assert len(np.unique(out)) > 100


def test_demo_writes_its_files(tmp_path):
    r = run_cli("demo", "-o", "demo", "--max-iter", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "demo"
    assert _files(folder) == ["ATTRIBUTION.txt", "faces_result.png", "faces_side_by_side.png"]
    result, info = fio.read_image(folder / "faces_result.png")
    assert result.shape == (150, 115, 3) and info.dtype == np.uint8
    panel, _ = fio.read_image(folder / "faces_side_by_side.png")
    assert panel.shape == (150, 4 * 115 + 3 * 4, 3)
    np.testing.assert_array_equal(panel[:, -115:], result)  # the result is the last panel
    assert "Euler" in (folder / "ATTRIBUTION.txt").read_text()
    assert str(os.path.join("demo", "faces_result.png")) in r.stdout
    assert "faces_side_by_side.png" in r.stdout and "done in" in r.stdout


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args,expected",
    [
        (["fg.png", "nope.png", "alpha.png", "-o", "out.png"], "nope.png: no such file"),
        (["fg.png", "bg.png", "junk.png", "-o", "out.png"], "junk.png: not an image"),
        (["fg.png", "small.png", "alpha.png", "-o", "out.png"], "small.png: size 6 x 10"),
        (
            ["fg.png", "bg.png", "alpha.png", "-o", "out.png", "--bogus"],
            "unrecognized arguments: --bogus",
        ),
        (
            ["fg.png", "bg.png", "alpha.png", "-o", "out.png", "--max-iter", "many"],
            "argument --max-iter",
        ),
        (
            ["fg.png", "bg.png", "alpha.png", "-o", "out.png", "--scheme", "magic"],
            "argument --scheme: invalid choice",
        ),
        (["fg.png", "bg.png", "alpha.png", "-o", "out.png", "--eta", "-1"], "--eta: must be"),
        (
            ["fg.png", "bg.png", "alpha.png", "-o", "out.png", "--report", "alpha.png"],
            "alpha.png: refusing to overwrite",
        ),
        (["fg.png", "bg.png", "alpha.png", "-o", "fg.png"], "fg.png: refusing to overwrite"),
        (["fg16.tif", "bg.png", "alpha.png", "-o", "out.jpg"], "JPEG cannot hold 16-bit"),
        (["fg.png", "bg.png", "-", "-o", "out.png"], "fg.png: has no alpha channel"),
        (["fg.png", "bg.png", "alpha.png", "-o", "out.gif"], "unknown output format"),
        (["fg.png", "bg.png", "alpha.png"], "required: -o/--output"),
        (["fga.png", "small.png", "alpha.png", "-o", "out.png"], "small.png: size"),
    ],
)
def test_errors_one_line_exit_2_nothing_written(rgb8, args, expected):
    iio.imwrite(rgb8 / "small.png", _u8((6, 10, 3)))
    iio.imwrite(rgb8 / "fga.png", _u8((H, W, 4)))  # its note must not precede the error
    (rgb8 / "junk.png").write_bytes(b"not an image")
    tifffile.imwrite(rgb8 / "fg16.tif", _u16((H, W, 3)), photometric="rgb")
    before = {name: (rgb8 / name).read_bytes() for name in _files(rgb8)}
    r = run_cli("fuse", *args, cwd=rgb8)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert expected in lines[0] and "Traceback" not in r.stderr
    assert {name: (rgb8 / name).read_bytes() for name in _files(rgb8)} == before


def test_ctrl_c_exits_130_without_output(tmp_path):
    size = (64, 64, 3)
    iio.imwrite(tmp_path / "fg.png", _u8(size))
    iio.imwrite(tmp_path / "bg.png", _u8(size))
    iio.imwrite(tmp_path / "alpha.png", _mask(shape=size[:2]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastosmosis",
            "fuse",
            "fg.png",
            "bg.png",
            "alpha.png",
            "-o",
            "out.png",
            "--report",
            "r.json",
            "--solver",
            "ipiano",
            "--tol",
            "1e-300",
            "--max-iter",
            "1000000",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell without job control starts background jobs with SIGINT ignored, and
        # Python keeps it ignored: give the child the default, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = proc.stderr.readline()  # the first progress line: the solver is running
        assert "iteration 1" in line
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert stdout == ""
    assert _files(tmp_path) == ["alpha.png", "bg.png", "fg.png"]


# ---------------------------------------------------------------- in-process


def test_notes_for_dropped_alpha_and_grey_promotion(rgb8, capsys, monkeypatch):
    monkeypatch.chdir(rgb8)
    iio.imwrite(rgb8 / "fga.png", np.dstack([_u8((H, W, 3)), _mask()]))
    iio.imwrite(rgb8 / "grey.png", _u8((H, W)))
    status = cli.main(["fuse", "fga.png", "grey.png", "alpha.png", "-o", "o.png", *FAST])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "fga.png: alpha channel dropped (give ALPHA as '-'" in captured.err
    assert "grey.png: grey image used as RGB" in captured.err
    out, _ = fio.read_image(rgb8 / "o.png")
    assert out.shape == (H, W, 3)


def test_bit_depth_override_and_quiet(rgb8, capsys, monkeypatch):
    monkeypatch.chdir(rgb8)
    status = cli.main(
        [
            "fuse",
            "fg.png",
            "bg.png",
            "alpha.png",
            "-o",
            "o.tif",
            "--bit-depth",
            "float",
            "-q",
            *FAST,
        ]
    )
    captured = capsys.readouterr()
    assert status == 0 and captured.out == "" and captured.err == ""
    assert fio.read_image(rgb8 / "o.tif")[1].dtype == np.float32


def test_every_keyword_of_fuse_has_a_flag():
    parser = cli.build_parser()
    fuse_parser = parser._subparsers._group_actions[0].choices["fuse"]
    flags = set(fuse_parser._option_string_actions)
    for param in cli.fuse_options():
        assert "--" + param.name.replace("_", "-") in flags
    assert {"--warm-start", "--no-warm-start", "--save-v", "--report", "--quiet"} <= flags


def test_flags_follow_the_signature():
    def fake(
        foreground,
        background,
        alpha,
        *,
        penalty="huber",
        levels=3,
        weight=0.5,
        smooth=False,
        callback=None,
    ):
        """Fake.

        Parameters
        ----------
        penalty : {"huber", "tv"}
            Which penalty.
        """

    parser = cli.Parser(prog="t")
    cli.add_fuse_flags(parser, fake)
    args = parser.parse_args(["--penalty", "tv", "--levels", "1e1", "--smooth"])
    assert cli.fuse_kwargs(args) == {"penalty": "tv", "levels": 10, "smooth": True}
    assert cli.fuse_kwargs(parser.parse_args([])) == {}  # fuse's defaults apply
    with pytest.raises(SystemExit):
        parser.parse_args(["--penalty", "l1"])
    assert "--callback" not in parser._option_string_actions


def test_choices_are_the_librarys():
    from fastosmosis import api, model

    parser = cli.build_parser()
    fuse_parser = parser._subparsers._group_actions[0].choices["fuse"]
    choices = {a.option_strings[-1][2:].replace("-", "_"): a.choices
               for a in fuse_parser._actions if a.choices}
    expected = {"init": api.INITS, "scheme": model.SCHEMES, "solver": model.SOLVERS,
                "regularizer": model.REGULARIZERS, "v_step": model.V_STEPS}
    for name, values in expected.items():
        assert tuple(choices[name]) == tuple(values)  # in the library's order
    dtypes = {np.dtype(t).name for t in api.DTYPES}
    assert set(choices["dtype"]) == dtypes  # the default follows the images' samples
    assert cli.library_choices().keys() == expected.keys() | {"dtype"}


def test_progress_on_a_terminal_is_one_updating_line():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    progress = cli.Progress(2, stream=stream, bar_interval=0)
    for channel in range(2):
        for iteration in range(1, 30):
            progress(channel, iteration, 10.0 / iteration)
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and "channel 2/2" in text and "relative change" in text
    assert text.count("\n") <= 1  # updated in place, not one line per iteration


def test_progress_plain_lines_are_throttled():
    stream = io.StringIO()
    progress = cli.Progress(1, stream=stream, interval=3600)
    for iteration in range(1, 50):
        progress(0, iteration, 1.0 / iteration)
    lines = stream.getvalue().splitlines()
    assert lines == ["channel 1/1  iteration 1  energy 1  relative change -"]
    quiet = io.StringIO()
    cli.Progress(1, stream=quiet, quiet=True)(0, 1, 1.0)
    assert quiet.getvalue() == ""


def test_main_returns_status_for_help_and_no_command(capsys):
    assert cli.main(["--help"]) == 0
    assert cli.main([]) == 2
    assert cli.main(["fuse", "f", "b", "a", "-o", "o.png", "--nope"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("argv, local", [
    (["batch", "m.csv", "-o", "out"], True),
    (["batch", "m.csv", "-o", "out", "--scheduler", "tcp://127.0.0.1:8786"], False),
    (["batch", "m.csv", "-o", "out", "--sched=tcp://127.0.0.1:8786"], False),  # argparse's
    (["batch", "--help"], False),
    (["fuse", "f.png", "b.png", "a.png", "-o", "o.png"], False),
    ([], False),
])
def test_the_workers_server_starts_early_only_for_a_local_batch(argv, local):
    assert cli._local_batch(argv) is local


LIGHT = r"""
import json, sys
from fastosmosis import cli
from fastosmosis._server import start_server
light = sorted(m for m in ("numpy", "numba", "scipy", "distributed") if m in sys.modules)
parser = cli.build_parser("batch")
names = sorted(parser._subparsers._group_actions[0].choices)
print(json.dumps({"light": light, "names": names, "compare": "fastosmosis.cli.compare" in
                  sys.modules, "all": sorted(cli.build_parser()._subparsers.
                                               _group_actions[0].choices)}))
"""


def test_the_command_line_starts_light_and_imports_only_the_command_it_names():
    # the server of a local batch's workers starts before NumPy is imported (main), and
    # a command line that names a command imports no other command's module
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    r = json.loads(out)
    assert r["light"] == []
    assert r["names"] == ["batch"] and r["compare"] is False
    assert r["all"] == sorted(cli.COMMANDS)


def test_the_console_script_is_the_entry_point():
    import importlib.metadata

    (script,) = importlib.metadata.entry_points(group="console_scripts", name="fastosmosis")
    assert script.load() is cli.entry_point
    assert cli.Parser is cli.flags.Parser and "Parser" in dir(cli)  # PEP 562 names
    with pytest.raises(AttributeError, match="no attribute 'Parserr'"):
        cli.Parserr  # noqa: B018
