"""``fastosmosis demo``: fuse the faces example shipped with the package.

The faces example of the paper (Euler and Lagrange, alpha blurred with sigma 5), shipped
downscaled by :data:`DEMO_SCALE`; writes the result, a side-by-side picture foreground |
background | alpha | result and the pictures' attribution.

``fastosmosis demo --manuscript`` makes a visible / infrared demonstration pair and a
trimap from the same images and runs register, matte and fuse on them
(:func:`fastosmosis.manuscript_demo.run_demo`, which holds the work); it prints the
registration's corner error against the known misalignment.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import time

import numpy as np

from ..io import encode_image, write_files_atomic
from ..manuscript_demo import side_by_side
from .console import PROG, Console, Progress, shape_text
from .flags import integer
from .inputs import compile_first, read_inputs

DEMO_SCALE = 4
DEMO_PARAMETERS = {"eta": 0.1, "mu": 100.0, "gamma": 1.0, "alpha_blur": 5.0 / DEMO_SCALE}
DEMO_FILES = ("faces_foreground.png", "faces_background.png", "faces_alpha.png")


def register(subparsers):
    """Add the ``demo`` command to the CLI's argparse ``subparsers``."""
    d = subparsers.add_parser(
        "demo",
        help="fuse the small faces example shipped with the package",
        description="Fuse the faces example of the paper (Euler and Lagrange, downscaled "
        f"by {DEMO_SCALE}) and write the result and a side-by-side picture "
        "foreground | background | alpha | result. With --manuscript: make a visible / "
        "infrared pair (a synthetic infrared that sees Lagrange's face under Euler's, "
        "at another resolution, rotated and shifted by a known amount) and a trimap from "
        "the same images, register, matte and fuse them, and print the registration's "
        "error against the known misalignment.",
    )
    d.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        help="folder for the pictures (default: ./fastosmosis-demo, with --manuscript "
        "./fastosmosis-manuscript)",
    )
    d.add_argument(
        "--manuscript",
        action="store_true",
        help="the visible / infrared demonstration: register, alpha from a trimap, fuse "
        "(needs fastosmosis[register] and fastosmosis[alpha])",
    )
    d.add_argument("--threads", type=integer, help="threads for the solver")
    d.add_argument("--max-iter", type=integer, help="outer iterations at most per channel")
    d.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    d.set_defaults(func=run)
    return d


def run(args):
    """The ``demo`` command: fuse the shipped faces example; returns the exit status."""
    import fastosmosis

    if args.manuscript:
        return run_manuscript(args)
    console = Console(args.quiet)
    start = getattr(args, "started", time.perf_counter())
    fuse = fastosmosis.fuse
    data = importlib.resources.files("fastosmosis.data")
    out_dir = args.output_dir or "fastosmosis-demo"
    os.makedirs(out_dir, exist_ok=True)
    result_path = os.path.join(out_dir, "faces_result.png")
    panel_path = os.path.join(out_dir, "faces_side_by_side.png")
    attribution_path = os.path.join(out_dir, "ATTRIBUTION.txt")

    kwargs = dict(DEMO_PARAMETERS)
    if args.threads is not None:
        kwargs["threads"] = args.threads
    if args.max_iter is not None:
        kwargs["max_iter"] = args.max_iter
    compile_first(console, kwargs)
    with contextlib.ExitStack() as stack:
        paths = [stack.enter_context(importlib.resources.as_file(data / name))
                 for name in DEMO_FILES]
        (fg, bg, alpha), _, _ = read_inputs(*paths, console)
    console.flush_notes()
    console.say(
        f"fusing the faces example ({shape_text(fg.shape)}; "
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


def run_manuscript(args):
    """``demo --manuscript``: the visible / infrared demonstration; returns the exit status."""
    from .. import manuscript_demo
    from .._optional import require

    console = Console(args.quiet)
    start = getattr(args, "started", time.perf_counter())
    out_dir = args.output_dir or "fastosmosis-manuscript"
    require("SimpleITK", "registration")  # before the kernels are compiled
    require("pymatting", "matting")
    kwargs = dict(manuscript_demo.PARAMETERS)
    if args.threads is not None:
        kwargs["threads"] = args.threads
    if args.max_iter is not None:
        kwargs["max_iter"] = args.max_iter
    compile_first(console, kwargs)
    console.say(
        f"the manuscript demonstration: visible and infrared scans made from the faces "
        f"example, into {out_dir} ("
        + ", ".join(f"{k}={v:g}" for k, v in kwargs.items())
        + ")"
    )

    def note(line):
        console.note(line)
        console.flush_notes()

    argv = args.argv
    progress = Progress(manuscript_demo.CHANNELS, quiet=args.quiet)
    try:
        done = manuscript_demo.run_demo(out_dir, notes=note, callback=progress,
                                        command=[PROG, *argv], **kwargs)
    finally:
        progress.close()
    progress.summary(done.fusion)
    shown = ("visible", "infrared", "trimap", "registered", "alpha", "fused", "report",
             "picture")
    for role in shown:
        console.say(f"wrote {done.paths[role]}")
    infrared = done.report["demonstration"]["infrared"]
    dx, dy = infrared["shift"]
    console.say(
        f"registration: corner error {done.corner_error:.3f} px (visible pixels) against "
        f"the known misalignment (scale {infrared['scale']:g}, rotation "
        f"{infrared['angle_degrees']:g} degrees, centre shifted by ({dx:g}, {dy:g}) "
        "infrared px)"
    )
    console.say(
        f"picture: visible | infrared | trimap over registered infrared | alpha | fused; "
        f"done in {time.perf_counter() - start:.1f} s"
    )
    return 0
