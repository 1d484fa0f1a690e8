"""The ``fastosmosis`` command: ``fuse`` image files, run the ``demo``.

Every keyword-only parameter of :func:`fastosmosis.fuse` becomes a ``fuse`` flag
(``max_iter`` -> ``--max-iter``), read from its signature, so a keyword added to
``fuse`` gets a flag without touching this file. Flags left out are not passed, and
``fuse``'s own defaults apply.

Errors a user can fix (missing or unreadable file, sizes that differ, unknown option,
bad value, an output that cannot hold the input's bit depth) print one line on stderr
and exit with status 2; Ctrl-C exits with 130. In both cases no output file is
written or changed: outputs are written to temporary files and renamed into place
only when all of them are complete.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import inspect
import json
import math
import os
import platform
import re
import sys
import time

import numpy as np

from .io import (
    ImageFileError,
    check_destination,
    check_output,
    encode_image,
    output_dtype,
    read_alpha,
    read_image,
    split_alpha,
    to_float,
    write_files_atomic,
)

PROG = "fastosmosis"

# Values of the string options of fuse whose docstring does not list them as {"a", "b"}
# (other keywords are typed from their default).
_CHOICES = {
    "init": ("foreground", "blend", "mean"),
    "scheme": ("exact", "paper"),
    "dtype": ("float64", "float32"),
}
# Keywords whose default is None, by the type of the values they take.
_NONE_DEFAULT_TYPES = {"alpha_blur": "float", "threads": "int", "warm_start": "bool",
                       "tol": "float", "gtol": "float", "pd_tol_rel": "float"}
_NOT_FLAGS = {"callback", "return_v"}  # return_v follows --save-v
# Short help of the keywords known today; a new keyword gets its docstring's first sentence.
_HELP = {
    "eta": "weight of the Huber-TV regulariser of v (0: none)",
    "mu": "weight of the fidelity of v to w = f^alpha b^(1-alpha)",
    "gamma": "weight of the fidelity of u to the foreground where alpha > 0",
    "epsilon": "Huber parameter of the regulariser",
    "osm": "weight of the osmosis term",
    "init": "initial u (v starts at w)",
    "alpha_blur": "replace alpha by gaussian_filter(alpha == 1, SIGMA) (the paper's "
    "faces example: 5); default: alpha as given",
    "scheme": "exact: exact gradients and proxes of the discrete energy; paper: the "
    "authors' reference code step for step",
    "solver": "bcd: to the minimiser (exact u-block by multigrid, v by descent steps); "
    "ipiano: the paper's block iPiano; default: bcd, ipiano for the paper scheme",
    "gtol": "stop a channel when the norm of the energy's gradient has fallen to GTOL of "
    "its start; default: 1e-7 for bcd, none for ipiano",
    "tol": "stop a channel when the relative energy change falls below TOL; default: "
    "1e-6 for ipiano (from iteration 5 on), none for bcd",
    "max_iter": "iterations at most per channel (outer iterations for bcd)",
    "pd_tol": "tolerance of the primal-dual loop of the Huber-TV prox",
    "pd_max_iter": "primal-dual iterations at most per prox",
    "warm_start": "start each primal-dual loop from the previous dual; default: the "
    "scheme's (on for exact)",
    "offset": "added to both images for positivity, removed from the result",
    "dtype": "working precision",
    "threads": "Numba threads for the solver; default: Numba's",
}
_METAVARS = {"alpha_blur": "SIGMA", "max_iter": "N", "pd_max_iter": "N", "threads": "N"}
_FUSE_DEST = "fuse__"  # namespace prefix of the generated flags

# The faces example of the paper (sigma = 5 alpha blur), shipped downscaled by 4.
DEMO_SCALE = 4
DEMO_PARAMETERS = {"eta": 0.1, "mu": 100.0, "gamma": 1.0, "alpha_blur": 5.0 / DEMO_SCALE}
DEMO_FILES = ("faces_foreground.png", "faces_background.png", "faces_alpha.png")

PROGRESS_INTERVAL = 1.0  # seconds between progress lines when stderr is not a terminal


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2, no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------- small helpers


def _fuse():
    import fastosmosis

    return fastosmosis.fuse


COMPILE_OPTIONS = ("scheme", "solver", "v_step", "eta", "regularizer", "dtype")


def _compile_first(console, kwargs):
    """Compile (or load) the kernels that fuse will call with ``kwargs``, before reading
    any input, and say so on stderr when they must be compiled: that happens once."""
    import fastosmosis

    dtype = np.dtype(kwargs.get("dtype", np.float64)).name

    def announce(names):
        console.status(f"compiling {len(names)} kernels for {dtype}; this happens once, "
                       f"later runs load them from Numba's cache")

    fastosmosis.precompile(**{k: kwargs[k] for k in COMPILE_OPTIONS if k in kwargs},
                           announce=announce)


def integer(text):
    """An int, also written as ``1e4``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}")
    return int(value)


def number(text):
    """A finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}")
    return value


def _value(text):
    """Value of an option whose type is unknown: int, float, none or text."""
    if text.lower() == "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _param_docs(doc):
    """``{name: (type text, first sentence)}`` from a numpydoc ``Parameters`` section.

    Grouped entries (``tol, max_iter : float, int``) give each name the same text.
    """
    docs = {}
    section = re.search(
        r"Parameters\n\s*-+\n(.*?)(\n\s*\n\s*[A-Z][a-z ]+\n\s*-+\n|\Z)", doc or "", re.S
    )
    if not section:
        return docs
    entries = []
    for line in inspect.cleandoc("\n" + section.group(1)).splitlines():
        head = re.match(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$", line)
        if head:
            entries.append((re.split(r"\s*,\s*", head.group(1)), head.group(2), []))
        elif entries and line.strip():
            entries[-1][2].append(line.strip())
    for names, type_text, lines in entries:
        first = re.split(r"(?<=\.)\s", " ".join(lines), maxsplit=1)[0]
        for name in names:
            docs[name] = (type_text, first.replace("%", "%%"))
    return docs


def _doc_choices(type_text):
    """The values of a numpydoc ``{"a", "b"}`` type, or None."""
    found = re.fullmatch(r"\{(.*)\}( or None)?", type_text.strip())
    if not found:
        return None
    values = [v.strip().strip("'\"") for v in found.group(1).split(",")]
    return tuple(v for v in values if v) or None


def fuse_options(fuse=None):
    """The keyword-only parameters of ``fuse`` that become flags."""
    fuse = fuse or _fuse()
    return [
        p
        for p in inspect.signature(fuse).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in _NOT_FLAGS
    ]


def _kind_of(param, choices):
    if choices:
        return "choice"
    default = param.default
    if isinstance(default, bool):
        return "bool"
    if default is None:
        return _NONE_DEFAULT_TYPES.get(param.name, "any")
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    return "any"


def _default_text(default):
    if isinstance(default, type):
        return default.__name__
    return repr(default) if isinstance(default, str) else str(default)


def _add_fuse_flags(parser, fuse):
    group = parser.add_argument_group(
        "solver options", "keywords of fastosmosis.fuse; left out, fuse's default applies"
    )
    docs = _param_docs(fuse.__doc__)
    taken = set(parser._option_string_actions)
    for param in fuse_options(fuse):
        flag = "--" + param.name.replace("_", "-")
        if flag in taken:
            continue
        type_text, text = docs.get(param.name, ("", ""))
        text = _HELP.get(param.name, text)
        choices = _doc_choices(type_text) or _CHOICES.get(param.name)
        kind = _kind_of(param, choices)
        if param.default not in (inspect.Parameter.empty, None):
            text = f"{text} (default: {_default_text(param.default)})".strip()
        kwargs = {"dest": _FUSE_DEST + param.name, "default": argparse.SUPPRESS, "help": text}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind == "choice":
            kwargs["choices"] = choices
        else:
            kwargs["type"] = {"int": integer, "float": number, "str": str}.get(kind, _value)
            kwargs["metavar"] = _METAVARS.get(param.name, param.name.upper())
        group.add_argument(flag, **kwargs)


def _fuse_kwargs(args):
    kwargs = {
        name[len(_FUSE_DEST) :]: value
        for name, value in vars(args).items()
        if name.startswith(_FUSE_DEST)
    }
    if "dtype" in kwargs:
        kwargs["dtype"] = np.dtype(kwargs["dtype"]).type
    return kwargs


def _describe(exc):
    if isinstance(exc, OSError) and not isinstance(exc, ImageFileError):
        if exc.filename:
            return f"{exc.filename}: {exc.strerror or exc}"
        return exc.strerror or str(exc)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _shape_text(shape):
    return " x ".join(str(n) for n in shape)


class _Console:
    """Notes and progress on stderr, results on stdout; silent with --quiet."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.notes = []

    def note(self, message):
        """Keep a note until :meth:`flush_notes`, so an error that follows stays one line."""
        self.notes.append(message)

    def flush_notes(self):
        for message in self.notes if not self.quiet else ():
            print(f"{PROG}: note: {message}", file=sys.stderr, flush=True)
        self.notes = []

    def say(self, message):
        if not self.quiet:
            print(message, flush=True)

    def status(self, message):
        """A line on stderr now (what the program is doing)."""
        if not self.quiet:
            print(f"{PROG}: {message}", file=sys.stderr, flush=True)


class Progress:
    """``callback(channel, iteration, energy)`` of fuse that shows the progress.

    On a terminal: one line, updated in place (tqdm), with channel, iteration, energy
    and relative change. Otherwise: a plain line for the first iteration of each channel
    and then at most one every ``interval`` seconds. Nothing when ``quiet``.
    """

    def __init__(
        self,
        n_channels,
        *,
        quiet=False,
        stream=None,
        interval=PROGRESS_INTERVAL,
        bar_interval=0.1,
    ):
        self.n_channels = n_channels
        self.bar_interval = bar_interval
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.interval = interval
        self.terminal = not quiet and _isatty(self.stream)
        self.channel = None
        self.previous = None
        self.last_line = -math.inf
        self.bar = None

    def _label(self, channel):
        return f"channel {channel + 1}/{self.n_channels}"

    def __call__(self, channel, iteration, energy):
        if self.quiet:
            return None
        if channel != self.channel:
            self.channel, self.previous, self.last_line = channel, None, -math.inf
        previous, self.previous = self.previous, energy
        change = abs(energy - previous) / abs(previous) if previous else math.nan
        change_text = "-" if math.isnan(change) else f"{change:.2e}"
        if self.terminal:
            self._bar_update(channel, iteration, energy, change_text)
            return None
        now = time.monotonic()
        if iteration == 1 or now - self.last_line >= self.interval:
            self.last_line = now
            print(
                f"{self._label(channel)}  iteration {iteration}  energy {energy:.10g}"
                f"  relative change {change_text}",
                file=self.stream,
                flush=True,
            )
        return None

    def _bar_update(self, channel, iteration, energy, change_text):
        from tqdm.auto import tqdm

        text = (
            f"{self._label(channel)}  iteration {iteration}  energy {energy:.10g}"
            f"  relative change {change_text}"
        )
        if self.bar is None:
            self.bar = tqdm(
                desc=text,
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
                mininterval=self.bar_interval,
                bar_format="{desc}  [{elapsed}, {rate_fmt}]",
                unit="it",
            )
        elif iteration == 1:
            self.bar.reset()
        self.bar.set_description_str(text, refresh=False)
        self.bar.update(iteration - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def summary(self, result):
        """One line per channel: iterations, final energy, why it stopped, time."""
        self.close()
        if self.quiet:
            return
        for c, iterations in enumerate(result.iterations):
            energies = np.asarray(result.energies[c])
            final = f"{energies[-1]:.10g}" if energies.size else "-"
            counts = [f"{int(np.sum(result.pd_iterations[c]))} primal-dual iterations"]
            if len(result.linear_iterations[c]):  # solver "bcd"
                counts.insert(0, f"{int(np.sum(result.linear_iterations[c]))} CG iterations")
                if result.stationarity[c].size:
                    counts.append(f"stationarity {result.stationarity[c][-1]:.2g}")
            print(
                f"{self._label(c)}: {iterations} iterations, energy {final}, "
                f"{', '.join(counts)}, stopped: {result.stop_reasons[c]}, "
                f"{result.channel_seconds[c]:.2f} s",
                file=self.stream,
                flush=True,
            )


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, np.dtype):
        return value.name
    return str(value)


def versions():
    """Versions of Python, the platform and the packages a result depends on."""
    import fastosmosis

    found = {"fastosmosis": fastosmosis.__version__, "python": platform.python_version()}
    for package in ("numpy", "numba", "scipy", "imageio", "imagecodecs", "tifffile"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    found["platform"] = platform.platform()
    return found


def _channel_report(result):
    return [
        {
            "channel": c,
            "iterations": int(result.iterations[c]),
            "stop_reason": result.stop_reasons[c],
            "seconds": result.channel_seconds[c],
            "final_energy": (float(result.energies[c][-1]) if len(result.energies[c]) else None),
            "energies": result.energies[c],
            "pd_iterations_total": int(np.sum(result.pd_iterations[c])),
            "pd_iterations": result.pd_iterations[c],
            "linear_iterations": result.linear_iterations[c],
            "stationarity": result.stationarity[c],
        }
        for c in range(len(result.iterations))
    ]


# ---------------------------------------------------------------- fuse


def _read_inputs(args, console, *, as_float=True):
    """Foreground, background, alpha as floats, their infos, and where alpha came from.

    ``as_float=False`` leaves uint8 and uint16 images as they are, for ``fuse``, which
    converts one channel at a time: a large scan then never has float64 copies of whole
    images beside the solver's arrays.
    """
    fg_raw, fg_info = read_image(args.foreground)
    fg_raw, fg_alpha = split_alpha(fg_raw, fg_info)
    if args.alpha == "-":
        if fg_alpha is None:
            raise ImageFileError(
                args.foreground,
                "has no alpha channel, so ALPHA cannot be '-' (give an alpha map file)",
            )
        alpha, alpha_info, alpha_source = to_float(fg_alpha), None, "foreground alpha channel"
    else:
        if fg_alpha is not None:
            console.note(
                f"{args.foreground}: alpha channel dropped (give ALPHA as '-' to use it "
                "as the alpha map)"
            )
        alpha, alpha_info = read_alpha(args.alpha)
        alpha_source = "file"
        if alpha_info.has_alpha:
            console.note(f"{args.alpha}: alpha channel of the alpha map file dropped")
    bg_raw, bg_info = read_image(args.background)
    bg_raw, bg_alpha = split_alpha(bg_raw, bg_info)
    if bg_alpha is not None:
        console.note(f"{args.background}: alpha channel dropped")

    size = fg_raw.shape[:2]
    named = [(args.background, bg_raw.shape[:2]), (args.alpha, alpha.shape[:2])]
    for path, other in named:
        if other != size:
            raise ImageFileError(
                path,
                f"size {_shape_text(other)} differs from the foreground's "
                f"{_shape_text(size)} ({args.foreground}; sizes are height x width)",
            )
    keep = () if as_float else (np.uint8, np.uint16)
    fg, bg = (x if x.dtype in keep else to_float(x) for x in (fg_raw, bg_raw))
    if fg.ndim != bg.ndim:
        grey_path = args.foreground if fg.ndim == 2 else args.background
        console.note(f"{grey_path}: grey image used as RGB to match the other image")
        if fg.ndim == 2:
            fg = np.repeat(fg[:, :, None], bg.shape[2], axis=2)
        else:
            bg = np.repeat(bg[:, :, None], fg.shape[2], axis=2)
    channels = 1 if fg.ndim == 2 else fg.shape[2]
    if alpha.ndim == 3 and alpha.shape[2] != channels:
        raise ImageFileError(
            args.alpha,
            f"alpha map has {alpha.shape[2]} channels but the images have {channels}",
        )
    return (fg, bg, alpha), (fg_info, bg_info, alpha_info), alpha_source


def _check_outputs(args, like):
    inputs = [args.foreground, args.background] + ([args.alpha] if args.alpha != "-" else [])
    outputs = [("-o", args.output)]
    check_output(args.output, like, inputs=inputs)
    if args.save_v:
        check_output(args.save_v, like, inputs=inputs)
        outputs.append(("--save-v", args.save_v))
    if args.report:
        check_destination(args.report, inputs=inputs)
        outputs.append(("--report", args.report))
    seen = {}
    for option, path in outputs:
        key = os.path.realpath(path)
        if key in seen:
            raise ImageFileError(path, f"given both as {seen[key]} and as {option}")
        seen[key] = option


def run_fuse(args):
    """The ``fuse`` command; returns the exit status."""
    console = _Console(args.quiet)
    fuse = _fuse()
    kwargs = _fuse_kwargs(args)
    try:
        _compile_first(console, kwargs)
    except ValueError as exc:
        raise ValueError(_with_option_names(_describe(exc), args, kwargs)) from None
    (fg, bg, alpha), (fg_info, bg_info, alpha_info), alpha_source = _read_inputs(
        args, console, as_float=False)
    like = args.bit_depth or fg_info
    _check_outputs(args, like)
    console.flush_notes()

    channels = 1 if fg.ndim == 2 else fg.shape[2]
    progress = Progress(channels, quiet=args.quiet)
    start = getattr(args, "started", time.perf_counter())
    try:
        result = fuse(fg, bg, alpha, callback=progress, return_v=bool(args.save_v),
                      **kwargs)
    except ValueError as exc:
        raise ValueError(_with_option_names(_describe(exc), args, kwargs)) from None
    finally:
        progress.close()
    progress.summary(result)

    files = [(args.output, encode_image(args.output, result.u, like=like))]
    if args.save_v:
        files.append((args.save_v, encode_image(args.save_v, result.v, like=like)))
    out_dtype = output_dtype(like)
    if args.report:
        report = {
            "command": [PROG, *sys.argv[1:]] if args.argv is None else [PROG, *args.argv],
            "inputs": {
                "foreground": _file_entry(fg_info),
                "background": _file_entry(bg_info),
                "alpha": dict(
                    _file_entry(alpha_info) if alpha_info else {"path": args.alpha},
                    source=alpha_source,
                    shape=list(alpha.shape),
                ),
            },
            "output": {
                "path": args.output,
                "shape": list(result.u.shape),
                "dtype": out_dtype.name,
                "v_path": args.save_v,
            },
            "parameters": result.parameters,
            "iterations": result.iterations,
            "pd_iterations_total": [int(np.sum(p)) for p in result.pd_iterations],
            "stop_reasons": result.stop_reasons,
            "seconds": result.seconds,
            "channel_seconds": result.channel_seconds,
            "wall_seconds": time.perf_counter() - start,
            "channels": _channel_report(result),
            "versions": versions(),
        }
        text = json.dumps(_jsonable(report), indent=2, allow_nan=False) + "\n"
        files.append((args.report, text.encode()))
    write_files_atomic(files)
    elapsed = time.perf_counter() - start
    extra = "".join(f", {path}" for path, _ in files[1:])
    console.say(
        f"wrote {args.output} ({_shape_text(result.u.shape)}, {out_dtype.name}){extra} "
        f"in {elapsed:.1f} s"
    )
    return 0


def _with_option_names(message, args, kwargs):
    """``eta: must be ...`` -> ``--eta: must be ...``; ``alpha: ...`` -> ``FILE: ...``."""
    names = {name: "--" + name.replace("_", "-") for name in kwargs}
    names.update(foreground=args.foreground, background=args.background)
    if args.alpha != "-":
        names["alpha"] = args.alpha
    head, sep, rest = message.partition(":")
    if sep and head in names:
        return f"{names[head]}:{rest}"
    return message


def _file_entry(info):
    return {
        "path": info.path,
        "format": info.format,
        "shape": list(info.shape),
        "dtype": info.dtype.name,
    }


# ---------------------------------------------------------------- demo


def _rgb8(image):
    image = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.rint(image * 255).astype(np.uint8)


def side_by_side(images, gap=4):
    """Images (floats in [0, 1], grey or RGB, same height) in a row on white, as uint8 RGB."""
    panels = [_rgb8(image) for image in images]
    height = panels[0].shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    row = []
    for k, panel in enumerate(panels):
        if k:
            row.append(spacer)
        row.append(panel)
    return np.concatenate(row, axis=1)


def run_demo(args):
    """The ``demo`` command: fuse the shipped faces example; returns the exit status."""
    console = _Console(args.quiet)
    start = getattr(args, "started", time.perf_counter())
    fuse = _fuse()
    data = importlib.resources.files("fastosmosis.data")
    out_dir = args.output_dir
    os.makedirs(out_dir, exist_ok=True)
    result_path = os.path.join(out_dir, "faces_result.png")
    panel_path = os.path.join(out_dir, "faces_side_by_side.png")
    attribution_path = os.path.join(out_dir, "ATTRIBUTION.txt")

    kwargs = dict(DEMO_PARAMETERS)
    if args.threads is not None:
        kwargs["threads"] = args.threads
    if args.max_iter is not None:
        kwargs["max_iter"] = args.max_iter
    _compile_first(console, kwargs)
    with importlib.resources.as_file(data / DEMO_FILES[0]) as path:
        fg = to_float(read_image(path)[0])
    with importlib.resources.as_file(data / DEMO_FILES[1]) as path:
        bg = to_float(read_image(path)[0])
    with importlib.resources.as_file(data / DEMO_FILES[2]) as path:
        alpha = read_alpha(path)[0]
    console.say(
        f"fusing the faces example ({_shape_text(fg.shape)}; "
        + ", ".join(f"{k}={v:g}" for k, v in kwargs.items())
        + ")"
    )
    progress = Progress(fg.shape[2], quiet=args.quiet)
    try:
        result = fuse(fg, bg, alpha, callback=progress, return_v=False, **kwargs)
    finally:
        progress.close()
    progress.summary(result)
    panel = side_by_side([fg, bg, alpha, result.u])
    write_files_atomic(
        [
            (result_path, encode_image(result_path, result.u, like=np.uint8)),
            (panel_path, encode_image(panel_path, panel, like=np.uint8)),
            (attribution_path, (data / "ATTRIBUTION.txt").read_bytes()),
        ]
    )
    elapsed = time.perf_counter() - start
    console.say(f"wrote {result_path}")
    console.say(f"wrote {panel_path} (foreground | background | alpha | result)")
    console.say(
        f"done in {elapsed:.1f} s (solver {result.seconds:.1f} s, "
        f"{sum(result.iterations)} iterations over {len(result.iterations)} channels)"
    )
    return 0


# ---------------------------------------------------------------- parser and main


def build_parser():
    """The argument parser of the ``fastosmosis`` command."""
    import fastosmosis

    parser = _Parser(
        prog=PROG,
        description="Variational osmosis image fusion (Parisotto et al., IEEE TIP 2020).",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {fastosmosis.__version__}"
    )
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    fuse = _fuse()
    p = sub.add_parser(
        "fuse",
        help="fuse a foreground and a background image under an alpha map",
        description=(
            "Fuse FOREGROUND and BACKGROUND under the alpha map ALPHA (1 keeps the "
            "foreground, 0 takes the background) and write the result to OUT. Images: "
            "PNG (8/16-bit), TIFF (8/16-bit or float), JPEG, grey or RGB. The output "
            "format follows OUT's extension (.png, .jpg, .tif) and keeps the "
            "foreground's bit depth, or is refused when it cannot."
        ),
    )
    _add_input_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        required=True,
        help="output image: .png, .jpg/.jpeg or .tif/.tiff",
    )
    p.add_argument(
        "--save-v",
        metavar="FILE",
        help="also write v (the fused target of the osmosis term, clipped to [0, 1]) to FILE",
    )
    p.add_argument(
        "--report",
        metavar="FILE.json",
        help="write parameters, per-channel "
        "iterations, energies, primal-dual counts, timings and versions as JSON",
    )
    p.add_argument(
        "--bit-depth",
        choices=("8", "16", "float"),
        help="bit depth of the output (default: the foreground's)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    _add_fuse_flags(p, fuse)
    p.set_defaults(func=run_fuse)

    d = sub.add_parser(
        "demo",
        help="fuse the small faces example shipped with the package",
        description="Fuse the faces example of the paper (Euler and Lagrange, downscaled "
        f"by {DEMO_SCALE}) and write the result and a side-by-side picture "
        "foreground | background | alpha | result.",
    )
    d.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        default="fastosmosis-demo",
        help="folder for the pictures (default: ./fastosmosis-demo)",
    )
    d.add_argument("--threads", type=integer, help="threads for the solver")
    d.add_argument("--max-iter", type=integer, help="iPiano iterations at most per channel")
    d.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    d.set_defaults(func=run_demo)

    from . import compare  # imported here: compare builds on this module's helpers

    compare.register(sub)
    return parser


def _add_input_arguments(p):
    """The three positional inputs of ``fuse`` and ``compare``."""
    p.add_argument("foreground", metavar="FOREGROUND", help="foreground image file")
    p.add_argument("background", metavar="BACKGROUND", help="background image file")
    p.add_argument(
        "alpha",
        metavar="ALPHA",
        help="alpha map file (integer samples divided by the type's maximum), or '-' to "
        "use the alpha channel of an RGBA or grey+alpha FOREGROUND",
    )


def _process_age():
    """Seconds since this process started (Linux; 0 elsewhere): imports and Numba count."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()  # fields 3, 4, ... of stat(5)
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def _exit_status(exc):
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 2


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, 2 on errors, 130 on Ctrl-C)."""
    started = time.perf_counter() - _process_age()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            commands = ", ".join(parser._subparsers._group_actions[0].choices)
            parser.error(f"choose a command: {commands}")
        args.argv = None if argv is None else list(argv)
        args.started = started
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse's exits, also from a command's own parser
        return _exit_status(exc)
    except KeyboardInterrupt:
        newline = "\n" if _isatty(sys.stderr) else ""  # after the ^C the terminal echoed
        print(f"{newline}{PROG}: interrupted; no output written", file=sys.stderr, flush=True)
        return 130
    except (ValueError, OSError) as exc:  # ImageFileError is a ValueError
        print(f"{PROG}: error: {_describe(exc)}", file=sys.stderr, flush=True)
        return 2
