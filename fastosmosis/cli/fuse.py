"""``fastosmosis fuse``: fuse image files, keep the foreground's bit depth, write atomically.

The work is the library's :func:`fastosmosis.jobs.fuse_files` (read, [register the
background onto the foreground], [alpha from a trimap by matting], fuse, write every
output or none); this module makes its flags, prints its notes and the solver's
progress, and names the flags in its errors. The solver's flags are made from
:func:`fastosmosis.fuse`'s signature (:mod:`.flags`).
"""

from __future__ import annotations

import re
import time

from .console import PROG, Console, Progress, describe, shape_text
from .flags import add_fuse_flags, fuse_kwargs
from .inputs import compile_first

# fuse_files' keywords -> the flags that set them, for the error messages
_JOB_FLAGS = {"output": "-o", "save_v": "--save-v", "save_alpha": "--save-alpha",
              "save_registered": "--save-registered", "report": "--report",
              "register": "--register", "matting": "--matting", "bit_depth": "--bit-depth"}


def register(subparsers):
    """Add the ``fuse`` command to the CLI's argparse ``subparsers``."""
    from ..jobs import MATTING_METHODS, TRANSFORMS

    p = subparsers.add_parser(
        "fuse",
        help="fuse a foreground and a background image under an alpha map",
        description=(
            "Fuse FOREGROUND and BACKGROUND under the alpha map ALPHA (1 keeps the "
            "foreground, 0 takes the background) and write the result to OUT. Images: "
            "PNG (8/16-bit), TIFF (8/16-bit or float), JPEG, grey or RGB. The output "
            "format follows OUT's extension (.png, .jpg, .tif) and keeps the "
            "foreground's bit depth, or is refused when it cannot. From raw scans: "
            "--trimap T makes the alpha map by matting instead of ALPHA, and --register "
            "aligns BACKGROUND (an infrared scan, say) onto FOREGROUND first."
        ),
    )
    p.add_argument("foreground", metavar="FOREGROUND", help="foreground image file")
    p.add_argument("background", metavar="BACKGROUND", help="background image file")
    alpha = p.add_argument(
        "alpha",
        metavar="ALPHA",
        help="alpha map file (integer samples divided by the type's maximum), or '-' to "
        "use the alpha channel of an RGBA or grey+alpha FOREGROUND; left out with --trimap",
    )
    # not nargs="?": argparse would then fill ALPHA (empty) with the two files before it,
    # and an ALPHA given after the options, as `fuse FG BG -o OUT ALPHA`, would be refused
    alpha.required = False
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
    steps = p.add_argument_group(
        "from raw scans", "register the background and make the alpha map first")
    steps.add_argument(
        "--trimap",
        metavar="T",
        help="make the alpha map from the trimap T (FOREGROUND's size; white: "
        "foreground, black: background, anything else unknown) by matting, instead of ALPHA",
    )
    steps.add_argument("--matting", choices=MATTING_METHODS, default=MATTING_METHODS[0],
                       help="matting method for --trimap: knn (KNN matting, Chen et al. "
                       "2013) or cf (closed-form, Levin et al. 2008) (default: "
                       f"{MATTING_METHODS[0]})")
    steps.add_argument(
        "--register",
        nargs="?",
        const=TRANSFORMS[0],
        choices=TRANSFORMS,
        metavar="{" + ",".join(TRANSFORMS) + "}",
        help="register BACKGROUND onto FOREGROUND by mutual information first, with this "
        f"transform (default: {TRANSFORMS[0]}); BACKGROUND may then have another size. "
        "Put it after the files, or write --register=TRANSFORM",
    )
    steps.add_argument("--save-alpha", metavar="FILE",
                       help="also write the alpha map made from the trimap (8-bit for an "
                       "8-bit FOREGROUND, else 16-bit)")
    steps.add_argument("--save-registered", metavar="FILE",
                       help="also write the registered BACKGROUND (its bit depth)")
    add_fuse_flags(p)
    p.set_defaults(func=run)
    return p


def run(args):
    """The ``fuse`` command; returns the exit status."""
    from ..jobs import prepare_files, run_job

    console = Console(args.quiet)
    kwargs = fuse_kwargs(args)
    try:
        compile_first(console, kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(_with_option_names(describe(exc), args, kwargs)) from None
    if args.alpha is not None and args.trimap is not None:
        raise ValueError("give ALPHA or --trimap T, not both")
    if args.alpha is None and args.trimap is None:
        raise ValueError("give ALPHA (an alpha map file, or '-') or --trimap T")
    if args.save_alpha is not None and args.trimap is None:
        raise ValueError("--save-alpha: needs --trimap (the alpha map is made from it)")
    if args.save_registered is not None and args.register is None:
        raise ValueError("--save-registered: needs --register (there is no registered "
                         "background without it)")
    argv = args.argv
    start = getattr(args, "started", time.perf_counter())
    try:
        job = prepare_files(
            args.foreground, args.background, args.output, alpha=args.alpha,
            trimap=args.trimap, register=args.register, matting=args.matting,
            save_alpha=args.save_alpha, save_registered=args.save_registered,
            save_v=args.save_v, report=args.report, bit_depth=args.bit_depth,
            command=[PROG, *argv], **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(_with_option_names(describe(exc), args, kwargs)) from None
    job.started = start  # the report's wall_seconds: since the process started

    def note(line):  # the inputs are checked by now: notes need not wait
        console.note(line)
        console.flush_notes()

    progress = Progress(job.channels, quiet=args.quiet)
    try:
        done = run_job(job, notes=note, callback=progress)
    except (TypeError, ValueError) as exc:
        raise ValueError(_with_option_names(describe(exc), args, kwargs)) from None
    finally:
        progress.close()
    progress.summary(done.fusion)
    output = done.report["output"]
    extra = "".join(f", {path}" for path in done.written[1:])
    console.say(
        f"wrote {args.output} ({shape_text(output['shape'])}, {output['dtype']}){extra} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _with_option_names(message, args, kwargs):
    """``eta: must be ...`` -> ``--eta: must be ...``; ``alpha: ...`` -> ``FILE: ...``;
    ``PATH: given both as output and as save_v`` -> ``... as -o and as --save-v``."""
    names = {name: "--" + name.replace("_", "-") for name in kwargs}
    names.update(_JOB_FLAGS)
    names.update(foreground=args.foreground, background=args.background)
    for name in ("alpha", "trimap"):
        path = getattr(args, name)
        if path is not None and path != "-":
            names[name] = path
    both = re.fullmatch(r"(.*): given both as (\w+) and as (\w+)", message)
    if both:
        first, second = (_JOB_FLAGS.get(n, n) for n in both.group(2, 3))
        return f"{both.group(1)}: given both as {first} and as {second}"
    head, sep, rest = message.partition(":")
    if sep and head in names:
        return f"{names[head]}:{rest}"
    return message
