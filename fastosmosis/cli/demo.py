"""``fastosmosis demo``: fuse the faces example shipped with the package.

The faces example of the paper (Euler and Lagrange, alpha blurred with sigma 5), shipped
downscaled by :data:`DEMO_SCALE`; writes the result, a side-by-side picture foreground |
background | alpha | result and the pictures' attribution.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import time

import numpy as np

from ..io import encode_image, write_files_atomic
from .console import Console, Progress, shape_text
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
    d.add_argument("--max-iter", type=integer, help="outer iterations at most per channel")
    d.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    d.set_defaults(func=run)
    return d


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


def run(args):
    """The ``demo`` command: fuse the shipped faces example; returns the exit status."""
    import fastosmosis

    console = Console(args.quiet)
    start = getattr(args, "started", time.perf_counter())
    fuse = fastosmosis.fuse
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


def _rgb8(image):
    image = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.rint(image * 255).astype(np.uint8)
