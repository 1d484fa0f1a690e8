"""``fastosmosis register``: align one scan onto another, keep its bit depth, write atomically.

MOVING (an infrared scan, say) is registered onto FIXED (the visible one) by
:func:`fastosmosis.registration.register` and written resampled onto FIXED's pixel grid,
with MOVING's channels and bit depth. ``--report`` writes the matrix (FIXED's pixel
coordinates to MOVING's), the metric and the seconds as JSON; ``--check`` writes a picture
to judge the alignment at a glance: FIXED in green and the registered MOVING in magenta
(grey where they agree, coloured fringes where edges do not meet), the whole image beside
a magnified corner, where a wrong rotation or scale shows most. A registration that does
not converge is an error (exit status 2) and writes nothing.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .console import PROG, Console, shape_text
from .flags import integer

CHECK_HEIGHT = 720  # pixels of the check picture's panels (the whole image is reduced)
CHECK_CORNER = 6  # the magnified corner is 1/CHECK_CORNER of FIXED's shorter side


def register(subparsers):
    """Add the ``register`` command to the CLI's argparse ``subparsers``."""
    from ..registration import TRANSFORMS

    p = subparsers.add_parser(
        "register",
        help="align MOVING (an infrared scan, say) onto FIXED by mutual information",
        description=(
            "Find the similarity or affine map from FIXED's pixels to MOVING's by "
            "multi-resolution Mattes mutual information (grey values need not match: "
            "ink dark in one scan may be light in the other; colour images are "
            "registered on their luminance), starting from the two images' size ratio, "
            "and write MOVING resampled onto FIXED's pixel grid to OUT, with MOVING's "
            "channels and bit depth. A registration that does not converge is an error "
            "and writes nothing. Needs SimpleITK: pip install 'fastosmosis[register]'."
        ),
    )
    p.add_argument("fixed", metavar="FIXED", help="the image to align onto (visible scan)")
    p.add_argument("moving", metavar="MOVING", help="the image to align (infrared scan)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="MOVING on FIXED's grid: .png, .jpg/.jpeg or .tif/.tiff")
    p.add_argument("--transform", choices=TRANSFORMS, default=TRANSFORMS[0],
                   help=f"the map to find (default: {TRANSFORMS[0]}: scale, rotation and "
                   "shift; affine adds shear and two scales)")
    p.add_argument("--levels", type=integer, default=3,
                   help="levels of the pyramid (default: 3; the coarsest needs 16 pixels a "
                   "side: fewer levels for images under 64 pixels a side)")
    p.add_argument("--report", metavar="R.json",
                   help="write the matrix (FIXED's pixel coordinates, x = column, y = row, "
                   "to MOVING's), the metric, the iterations and the seconds as JSON")
    p.add_argument("--check", metavar="CHECK.png",
                   help="write FIXED (green) over the registered MOVING (magenta): the "
                   "whole image and a magnified corner, side by side")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)
    return p


def run(args):
    """The ``register`` command; returns the exit status."""
    from .._optional import require
    from ..inputs import sha256
    from ..io import encode_image, read_image, write_files_atomic
    from ..registration import register as register_images

    require("SimpleITK", "registration")  # before any work: the one error line says so
    console = Console(args.quiet)
    start = getattr(args, "started", time.perf_counter())
    fixed, fixed_info = read_image(args.fixed)
    moving, moving_info = read_image(args.moving)
    _check_outputs(args, moving_info)
    console.status(f"registering {args.moving} ({shape_text(moving.shape)}) onto "
                   f"{args.fixed} ({shape_text(fixed.shape)}), {args.transform}")
    result = register_images(fixed, moving, transform=args.transform, levels=args.levels)

    files = [(args.output, encode_image(args.output, result.registered, like=moving_info))]
    if args.check:
        picture = check_picture(fixed, result.registered)
        files.append((args.check, encode_image(args.check, picture, like=np.uint8)))
    if args.report:
        report = _report(args, result, fixed_info, moving_info,
                         {args.fixed: sha256(args.fixed), args.moving: sha256(args.moving)},
                         time.perf_counter() - start)
        files.append((args.report, report.encode()))
    write_files_atomic(files)
    console.say(_summary(result))
    extra = "".join(f", {path}" for path, _ in files[1:])
    console.say(f"wrote {args.output} ({shape_text(result.registered.shape)}, "
                f"{result.registered.dtype.name}){extra} in {time.perf_counter() - start:.1f} s")
    return 0


def _summary(result):
    from ..report import similarity_of

    found = similarity_of(result.matrix)
    dx, dy = found["shift"]
    return (f"{result.transform}: scale {found['scale']:.5g} (MOVING pixels per FIXED pixel), "
            f"rotation {found['rotation_degrees']:.4g} degrees, shift ({dx:.2f}, {dy:.2f}) "
            f"px; Mattes metric {result.metric:.4g}, {result.iterations} iterations at "
            f"{shape_text(result.registered_at)}, {result.seconds:.1f} s")


def _check_outputs(args, moving_info):
    """Refuse, before any work, an output that cannot be written, that would overwrite
    an input, or that two options name."""
    from ..io import ImageFileError, check_destination, check_output

    inputs = [args.fixed, args.moving]
    outputs = [("-o", args.output, moving_info), ("--check", args.check, np.uint8),
               ("--report", args.report, None)]
    seen = {}
    for option, path, like in outputs:
        if path is None:
            continue
        if like is None:
            check_destination(path, inputs=inputs)
        else:
            check_output(path, like, inputs=inputs)
        key = os.path.realpath(path)
        if key in seen:
            raise ImageFileError(path, f"given both as {seen[key]} and as {option}")
        seen[key] = option


def _report(args, result, fixed_info, moving_info, hashes, wall_seconds):
    """The JSON text of ``--report``."""
    import importlib.metadata

    from ..report import file_entry, report_text, similarity_of, versions

    argv = args.argv
    found = {
        "command": [PROG, *argv],
        "inputs": {"fixed": file_entry(fixed_info, hashes[args.fixed]),
                   "moving": file_entry(moving_info, hashes[args.moving])},
        "output": {"path": args.output, "shape": list(result.registered.shape),
                   "dtype": result.registered.dtype.name},
        "check": args.check,
        "transform": result.transform,
        "levels": args.levels,
        "matrix": result.matrix,
        "matrix_maps": "FIXED's pixel coordinates (x = column, y = row) to MOVING's",
        **similarity_of(result.matrix),
        "metric": result.metric,
        "metric_is": "Mattes mutual information metric (minus the mutual information)",
        "iterations": result.iterations,
        "stop_reason": result.stop_reason,
        "registered_at": list(result.registered_at),
        "overlap": result.overlap,
        "seconds": result.seconds,
        "wall_seconds": wall_seconds,
        "versions": {**versions(), "SimpleITK": importlib.metadata.version("SimpleITK")},
    }
    return report_text(found)


def check_picture(fixed, registered, *, height=CHECK_HEIGHT):
    """FIXED in green over REGISTERED in magenta: the whole image | a magnified corner.

    Each luminance is stretched between its 1st and 99th percentiles, so that two scans
    of different contrast show alike; where they agree the picture is grey, where an
    edge of one is not on the other it is green or magenta. The whole image is reduced
    (area averaging) to ``height`` rows; a corner (a square of about 1/``CHECK_CORNER``
    of the shorter side, of the four the one where FIXED has the most contrast and
    REGISTERED covers most) is magnified to the same height by a whole factor (nearest
    neighbour, pixels shown as blocks).

    Returns uint8 RGB.
    """
    from .._area import resize
    from ..registration import luminance
    from .demo import side_by_side

    fixed_lum, registered_lum = luminance(fixed, "fixed"), luminance(registered, "registered")
    overlay = _overlay(fixed_lum, registered_lum)
    h, w = overlay.shape[:2]
    if h > height:
        overlay_full = resize(overlay, (height, max(1, round(w * height / h))), "area")
    else:
        overlay_full = overlay
    rows = overlay_full.shape[0]
    k = max(1, rows // max(8, min(h, w) // CHECK_CORNER))  # the magnification
    side = min(h, w, max(1, rows // k))
    corners = [(0, 0), (0, w - side), (h - side, 0), (h - side, w - side)]
    r, c = corners[int(np.argmax([_interest(fixed_lum[r:r + side, c:c + side],
                                            registered_lum[r:r + side, c:c + side])
                                  for r, c in corners]))]
    corner = overlay[r:r + side, c:c + side]
    corner = np.repeat(np.repeat(corner, k, axis=0), k, axis=1)
    rows = max(overlay_full.shape[0], corner.shape[0])
    return side_by_side([_pad(overlay_full, rows), _pad(corner, rows)], gap=8)


def _interest(fixed_lum, registered_lum):
    """What a corner shows: FIXED's contrast where REGISTERED covers it, times the cover."""
    covered = registered_lum > 0
    if covered.sum() < 2:
        return 0.0
    return float(np.std(fixed_lum[covered])) * covered.mean()


def _stretch(lum):
    lo, hi = np.percentile(lum, (1, 99))
    return np.clip((lum - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(lum)


def _overlay(fixed_lum, registered_lum):
    moving = _stretch(registered_lum)
    return np.stack([moving, _stretch(fixed_lum), moving], axis=-1)


def _pad(panel, rows):
    """``panel`` with white rows below it up to ``rows``."""
    if panel.shape[0] == rows:
        return panel
    pad = np.ones((rows - panel.shape[0],) + panel.shape[1:])
    return np.concatenate([panel, pad], axis=0)
