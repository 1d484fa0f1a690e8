"""``fastosmosis compare``: the paper's Table I on your own images.

Runs the seven methods of the paper's Table I, direct matting, structure-aware fusion,
guided-filter fusion, Poisson image editing, nonlinear spectral fusion, linear osmosis
and ``fuse`` with both schemes (the library's :mod:`fastosmosis.compare`) on one
foreground / background / alpha triple, prints the chromaticity error of each result
against the foreground, BRISQUE and FMI beside the paper's printed values, and writes
every result, the table and one labelled side-by-side picture into an output folder. A
score whose optional dependency is missing (BRISQUE: OpenCV) is listed as skipped with
its install hint and the rest still runs.

Inputs are read, and ``fuse``'s flags made, exactly as for ``fastosmosis fuse``
(:mod:`.inputs`, :mod:`.flags`), so the two commands take the same files and options.
``--alpha-blur S`` blurs alpha once here and every method gets the blurred map. As for
``fuse``, every output is checked before any work and written only when all of them are
complete.
"""

from __future__ import annotations

import os

import numpy as np

from ..io import ImageFileError, check_destination, check_output, encode_image, write_files_atomic
from ..metrics import FMI_FEATURES, TABLE_I_FEATURE
from .console import Console, Progress, shape_text
from .flags import add_fuse_flags, add_input_arguments, fuse_kwargs, number
from .inputs import compile_first, read_inputs


def register(subparsers):
    """Add the ``compare`` command to the CLI's argparse ``subparsers``."""
    p = subparsers.add_parser(
        "compare",
        help="compare fuse with the other methods of the paper's Table I",
        description=(
            "Fuse FOREGROUND and BACKGROUND under ALPHA (1 keeps the foreground, 0 takes "
            "the background) with the methods of the paper's Table I: direct matting, "
            "structure-aware fusion, guided-filter fusion, Poisson image editing, "
            "nonlinear spectral fusion, linear osmosis and fuse (both schemes, or the one "
            "--scheme names); print the chromaticity error of each result against the "
            "foreground (the paper's eq. 16), BRISQUE (needs OpenCV: pip install "
            "'fastosmosis[brisque]'; skipped without it) and FMI, beside the paper's "
            "values for its faces example, and write every result, table.txt and the "
            "side-by-side picture compare.png (needs matplotlib: pip install "
            "'fastosmosis[figures]') to DIR."
        ),
    )
    add_input_arguments(p)
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="folder for the results (created if missing)")
    p.add_argument("--poisson-threshold", type=number, default=0.5, metavar="T",
                   help="Poisson editing clones the background where alpha < T "
                   "(default: 0.5)")
    p.add_argument("--fmi-feature", choices=FMI_FEATURES, default=TABLE_I_FEATURE,
                   help=f"feature of the FMI score (default: {TABLE_I_FEATURE}, the one whose "
                   "values match the paper's Table I)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_fuse_flags(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """The ``compare`` command; returns the exit status."""
    from .. import compare  # imported here: the baselines import SciPy's sparse solvers
    from ..model import SCHEMES

    console = Console(args.quiet)

    def note(message):  # the inputs are checked by then: notes need not wait
        console.note(message)
        console.flush_notes()

    kwargs = fuse_kwargs(args)
    sigma = kwargs.pop("alpha_blur", None)  # blurred here, once, for every method
    schemes = (kwargs.pop("scheme"),) if "scheme" in kwargs else SCHEMES
    for scheme in schemes:  # before reading the inputs, as fuse does (and says so)
        opts = dict(kwargs, scheme=scheme)
        if scheme == "paper" and opts.get("solver") == "bcd":
            del opts["solver"]  # the paper scheme is its iPiano run
        compile_first(console, opts)
    (f, b, alpha), (f_info, _, _), _ = read_inputs(
        args.foreground, args.background, args.alpha, console)
    f, b, alpha = (np.asarray(x, dtype=np.float64) for x in (f, b, alpha))
    if sigma is not None:
        if not sigma > 0:
            raise ValueError(f"--alpha-blur: must be positive, got {sigma}")
        alpha = compare.blur_alpha(alpha, sigma)

    # check the folder and the format once, before minutes of work
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ImageFileError(args.output, "exists and is not a folder")
    os.makedirs(args.output, exist_ok=True)
    ext = ".png" if f_info.bit_depth in ("8", "16") else ".tif"
    inputs = [p for p in (args.foreground, args.background, args.alpha) if p != "-"]
    check_output(os.path.join(args.output, "direct_matting" + ext), f_info, inputs=inputs)
    methods = compare.methods(
        kwargs, schemes, poisson_threshold=args.poisson_threshold,
        progress=lambda channels: Progress(channels, quiet=args.quiet))
    for name in [stem + ext for _, stem, _ in methods] + [compare.TABLE, compare.PICTURE]:
        check_destination(os.path.join(args.output, name), inputs=inputs)

    note(f"comparing on {shape_text(f.shape)}"
         + ("" if sigma is None else f", alpha blurred with sigma {sigma:g}"))
    rows, skipped_scores = compare.run_methods(methods, f, b, alpha, note=note,
                                               fmi_feature=args.fmi_feature)
    files = []
    for row in rows:
        if row["u"] is not None:
            path = os.path.join(args.output, row["stem"] + ext)
            files.append((path, encode_image(path, row["u"], like=f_info)))

    table = compare.table(rows, f, alpha, skipped_scores, fmi_feature=args.fmi_feature)
    console.say(table.rstrip("\n"))
    files.append((os.path.join(args.output, compare.TABLE), table.encode()))
    picture = compare.picture(f, b, alpha, rows)
    if picture is None:
        note("matplotlib is not installed, so no side-by-side picture was "
             "written (pip install 'fastosmosis[figures]')")
    else:
        files.append((os.path.join(args.output, compare.PICTURE), picture))
    write_files_atomic(files)
    console.say(f"wrote {len(files)} files to {args.output}")
    return 0
