"""``fastosmosis alpha``: an alpha map from an image and a trimap, by matting.

The trimap's maximum (255, 65535 or 1.0) marks alpha = 1, 0 marks alpha = 0, anything
else is unknown (:func:`fastosmosis.matting.alpha_from_trimap`). The alpha map is written
grey, 16-bit when IMAGE has more than 8 bits and the output's format holds 16 bits, else
8-bit; it is checked before the matting starts and written atomically. The command says
the size the matting ran at (reduced above ``--max-pixels``).
"""

from __future__ import annotations

import time

from .._jobcheck import alpha_depth
from ..io import check_output, encode_image, read_image, split_alpha, write_files_atomic
from .console import Console, shape_text
from .flags import integer


def register(subparsers):
    """Add the ``alpha`` command to the CLI's argparse ``subparsers``."""
    from ..matting import METHODS

    p = subparsers.add_parser(
        "alpha",
        help="make an alpha map from an image and a trimap (KNN or closed-form matting)",
        description=(
            "Compute the alpha map of IMAGE from TRIMAP (an image of IMAGE's size: its "
            "maximum, 255 or 65535 or 1.0, means alpha = 1, 0 means alpha = 0, anything "
            "else unknown) by KNN matting (Chen, Li, Tang 2013) or closed-form matting "
            "(Levin, Lischinski, Weiss 2008) with pymatting (pip install "
            "'fastosmosis[alpha]'), and write it to ALPHA as a grey image: 16-bit when "
            "IMAGE has more than 8 bits and ALPHA's format holds 16 bits, else 8-bit. "
            "Images above --max-pixels are matted at a reduced size and brought back by "
            "the fast guided filter under the full image."
        ),
    )
    p.add_argument("image", metavar="IMAGE", help="image file (grey or RGB)")
    p.add_argument("trimap", metavar="TRIMAP", help="trimap file (grey, IMAGE's size)")
    p.add_argument("-o", "--output", metavar="ALPHA", required=True,
                   help="output alpha map: .png, .tif/.tiff (or .jpg, 8-bit)")
    p.add_argument("--method", choices=METHODS, default=METHODS[0],
                   help=f"matting method (default: {METHODS[0]})")
    p.add_argument("--max-pixels", type=integer, default=1_000_000, metavar="N",
                   help="above N pixels, matte at a reduced size (default: 1000000; KNN "
                   "needs about 3.5 GB per megapixel)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """The ``alpha`` command; returns the exit status."""
    from ..matting import alpha_from_trimap

    console = Console(args.quiet)
    start = time.perf_counter()
    image, info = read_image(args.image)
    image, dropped = split_alpha(image, info)
    if dropped is not None:
        console.note(f"{args.image}: its alpha channel is not used")
    trimap, trimap_info = read_image(args.trimap)
    trimap, _ = split_alpha(trimap, trimap_info)
    like = alpha_depth(info, args.output)
    check_output(args.output, like, inputs=[args.image, args.trimap])
    full = image.shape[:2]

    def status(line):  # called once the inputs are checked: the notes may come out
        console.flush_notes()
        console.status(line)

    try:
        result = alpha_from_trimap(image, trimap, method=args.method,
                                   max_pixels=args.max_pixels, notes=status)
    except (TypeError, ValueError) as exc:
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(_with_names(str(exc), args)) from None
    write_files_atomic([(args.output, encode_image(args.output, result.alpha, like=like))])
    solved = shape_text(result.solved_shape)
    how = "" if result.solved_shape == full else ", brought back by the fast guided filter"
    console.say(f"wrote {args.output} ({shape_text(full)}, {like}-bit alpha) in "
                f"{time.perf_counter() - start:.1f} s; {args.method} matting ran at "
                f"{solved}{how}")
    return 0


def _with_names(message, args):
    """``trimap: ...`` -> ``TRIMAP-FILE: ...``; ``max_pixels: ...`` -> ``--max-pixels: ...``."""
    names = {"image": args.image, "trimap": args.trimap, "max_pixels": "--max-pixels",
             "method": "--method"}
    head, sep, rest = message.partition(":")
    return f"{names[head]}:{rest}" if sep and head in names else message
