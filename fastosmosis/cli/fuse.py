"""``fastosmosis fuse``: fuse image files, keep the foreground's bit depth, write atomically.

The flags of the solver are made from :func:`fastosmosis.fuse`'s signature
(:mod:`.flags`). Every output (the result, ``--save-v``, ``--report``) is checked before
the solver starts and written only when all of them are complete.
"""

from __future__ import annotations

import os
import sys
import time

from ..io import (
    ImageFileError,
    check_destination,
    check_output,
    encode_image,
    output_dtype,
    write_files_atomic,
)
from .console import PROG, Console, Progress, describe, shape_text
from .flags import add_fuse_flags, add_input_arguments, fuse_kwargs
from .inputs import compile_first, read_inputs
from .report import fuse_report


def register(subparsers):
    """Add the ``fuse`` command to the CLI's argparse ``subparsers``."""
    p = subparsers.add_parser(
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
    add_input_arguments(p)
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
    add_fuse_flags(p)
    p.set_defaults(func=run)
    return p


def run(args):
    """The ``fuse`` command; returns the exit status."""
    import fastosmosis

    console = Console(args.quiet)
    fuse = fastosmosis.fuse
    kwargs = fuse_kwargs(args)
    try:
        compile_first(console, kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(_with_option_names(describe(exc), args, kwargs)) from None
    (fg, bg, alpha), infos, alpha_source = read_inputs(
        args.foreground, args.background, args.alpha, console, as_float=False)
    like = args.bit_depth or infos[0]
    _check_outputs(args, like)
    console.flush_notes()

    channels = 1 if fg.ndim == 2 else fg.shape[2]
    progress = Progress(channels, quiet=args.quiet)
    start = getattr(args, "started", time.perf_counter())
    try:
        result = fuse(fg, bg, alpha, callback=progress, return_v=bool(args.save_v),
                      **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(_with_option_names(describe(exc), args, kwargs)) from None
    finally:
        progress.close()
    progress.summary(result)

    files = [(args.output, encode_image(args.output, result.u, like=like))]
    if args.save_v:
        files.append((args.save_v, encode_image(args.save_v, result.v, like=like)))
    out_dtype = output_dtype(like)
    if args.report:
        argv = sys.argv[1:] if args.argv is None else args.argv
        text = fuse_report(
            command=[PROG, *argv],
            infos=infos,
            alpha_path=args.alpha,
            alpha_source=alpha_source,
            alpha_shape=alpha.shape,
            result=result,
            output=args.output,
            v_path=args.save_v,
            out_dtype=out_dtype,
            wall_seconds=time.perf_counter() - start,
        )
        files.append((args.report, text.encode()))
    write_files_atomic(files)
    elapsed = time.perf_counter() - start
    extra = "".join(f", {path}" for path, _ in files[1:])
    console.say(
        f"wrote {args.output} ({shape_text(result.u.shape)}, {out_dtype.name}){extra} "
        f"in {elapsed:.1f} s"
    )
    return 0


def _check_outputs(args, like):
    """Refuse, before any work, an output that cannot be written, that would overwrite
    an input, or that two options name."""
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
