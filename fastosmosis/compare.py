"""``fastosmosis compare``: the paper's Table I on your own images.

Runs direct matting, Poisson image editing, linear osmosis and ``fuse`` with both
schemes on one foreground / background / alpha triple, prints the chromaticity error of
each result against the foreground (eq. (16) of the paper; the mean over pixels and
channels, which is what Table I reports), and writes every result, the table and one
labelled side-by-side picture into an output folder.

Inputs are read, and ``fuse``'s flags made, exactly as for ``fastosmosis fuse`` (the
helpers of :mod:`fastosmosis.cli`), so the two commands take the same files and
options. ``--alpha-blur S`` blurs alpha once here and every method gets the blurred map.
Errors a user can fix raise ValueError / OSError, which the CLI's ``main`` turns into one
line on stderr and exit status 2. As for ``fuse``, every output is written only when all
of them are complete.

The CLI (``fastosmosis.cli``) calls :func:`register` with its subparsers and then
``args.func(args)``, which returns the exit code.
"""

from __future__ import annotations

import io
import os
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from . import baselines
from .cli import (
    Progress,
    _add_fuse_flags,
    _add_input_arguments,
    _Console,
    _fuse,
    _fuse_kwargs,
    _read_inputs,
    _shape_text,
    number,
)
from .io import (
    ImageFileError,
    check_destination,
    check_output,
    encode_image,
    write_files_atomic,
)
from .metrics import chromaticity_error, chromaticity_left_out, chromaticity_score

PICTURE = "compare.png"
TABLE = "table.txt"
SCHEMES = ("exact", "paper")


class _Skipped(Exception):
    """A method that cannot run on this input; the table says why."""


def register(subparsers):
    """Add the ``compare`` subcommand to the CLI's argparse ``subparsers``."""
    p = subparsers.add_parser(
        "compare",
        help="compare fuse with direct matting, Poisson editing and linear osmosis",
        description=(
            "Fuse FOREGROUND and BACKGROUND under ALPHA (1 keeps the foreground, 0 takes "
            "the background) with direct matting, Poisson image editing, linear osmosis "
            "and fuse (both schemes, or the one --scheme names); print the chromaticity "
            "error of each result against the foreground (the paper's eq. 16 and Table "
            "I) and write every result, table.txt and the side-by-side picture "
            "compare.png (needs matplotlib: pip install 'fastosmosis[figures]') to DIR."
        ),
    )
    _add_input_arguments(p)
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="folder for the results (created if missing)")
    p.add_argument("--poisson-threshold", type=number, default=0.5, metavar="T",
                   help="Poisson editing clones the background where alpha < T "
                   "(default: 0.5)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    _add_fuse_flags(p, _fuse())
    p.set_defaults(func=run)
    return p


def _blur(alpha, sigma):
    """The paper's alpha blur, as ``fuse(alpha_blur=sigma)`` does it: per 2-D channel,
    ``gaussian_filter((alpha == 1), sigma)``."""
    if alpha.ndim == 3:
        return np.stack([_blur(alpha[..., c], sigma) for c in range(alpha.shape[2])], axis=2)
    return gaussian_filter((alpha == 1).astype(np.float64), sigma)


def _methods(args, kwargs, schemes):
    """(label, file stem, callable(f, b, alpha) -> (u, note)) in the order of Table I."""

    def baseline(function, **kw):
        def run_baseline(f, b, alpha):
            try:
                return function(f, b, alpha, **kw), ""
            except ValueError as exc:  # e.g. Poisson with nothing outside its region
                raise _Skipped(str(exc)) from None

        return run_baseline

    def fuse_with(scheme):
        def run_fuse(f, b, alpha):
            channels = 1 if f.ndim == 2 else f.shape[2]
            progress = Progress(channels, quiet=args.quiet)
            opts = dict(kwargs)
            if scheme == "paper" and opts.get("solver") == "bcd":
                del opts["solver"]  # the paper scheme is its iPiano run
            try:
                result = _fuse()(f, b, alpha, scheme=scheme, callback=progress, **opts)
            except ValueError as exc:
                if f"{scheme!r}" in str(exc) and "scheme" in str(exc):
                    # this version of fuse lacks the scheme
                    raise _Skipped(f"this fuse has no scheme {scheme!r}") from None
                raise
            finally:
                progress.close()
            progress.summary(result)
            its = "/".join(str(n) for n in result.iterations)
            solver = result.parameters.get("solver", "ipiano")
            return np.asarray(result.u, dtype=np.float64), f"{its} iterations ({solver})"

        return run_fuse

    return [
        ("direct matting", "direct_matting", baseline(baselines.direct_matting)),
        ("Poisson", "poisson", baseline(baselines.poisson, threshold=args.poisson_threshold)),
        ("linear osmosis", "linear_osmosis", baseline(baselines.linear_osmosis)),
    ] + [(f"fuse ({s})", f"fuse_{s}", fuse_with(s)) for s in schemes]


def _table(rows, left_out, mask):
    """Table I as text: one line per method, then what the columns mean."""
    fmt = lambda x, spec: "-" if x is None else format(x, spec)  # noqa: E731
    head = ("method", "err(u,f) all", "err(u,f) alpha>0", "left out", "seconds", "note")
    lines = [head] + [
        (r["label"], fmt(r["all"], ".4f"), fmt(r["masked"], ".4f"),
         "-" if left_out is None or r["u"] is None else f"{left_out[0]} / {left_out[1]}",
         fmt(r["seconds"], ".2f"), r["note"])
        for r in rows
    ]
    widths = [max(len(line[k]) for line in lines) for k in range(len(head))]
    text = ["  ".join(cell.ljust(w) if k in (0, 5) else cell.rjust(w)
                      for k, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
            for line in lines]
    text.insert(1, "-" * len(text[0]))
    if left_out is None:
        text.append("No chromaticity error: eq. 16 needs RGB images.")
    else:
        text.append(
            "err(u,f): chromaticity error of eq. 16 against the foreground, mean over "
            f"pixels and channels; alpha>0 covers {int(mask.sum())} of {mask.size} pixels.\n"
            "left out: pixels where the foreground has a zero channel (no GCM), "
            "whole image / alpha>0."
        )
    return "\n".join(text) + "\n"


def _picture(f, b, alpha, rows):
    """PNG bytes of one figure: the inputs, the results with their scores, and (RGB) the
    eq. 16 error maps; None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    done = [r for r in rows if r["u"] is not None]
    cols = max(3, len(done))
    cmap = None if f.ndim == 3 else "gray"
    rgb = f.ndim == 3 and f.shape[2] == 3
    errors = [chromaticity_error(r["u"], f).mean(axis=2) for r in done] if rgb else []
    nrows = 3 if errors else 2
    h, w = f.shape[:2]
    fig, axes = plt.subplots(nrows, cols, squeeze=False, layout="constrained",
                             figsize=(3.2 * cols, nrows * (3.2 * h / w + 0.5)))
    for ax in axes.ravel():  # frames stay, so a white alpha shows against the page
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes[0, 3:]) + list(axes[1:, len(done):].ravel()):
        ax.axis("off")
    for k, (title, image) in enumerate((("foreground f", f), ("background b", b),
                                        ("alpha", alpha))):
        axes[0, k].imshow(np.clip(image, 0, 1), cmap="gray" if k == 2 else cmap,
                          vmin=0, vmax=1)
        axes[0, k].set_title(title, fontsize=9)
    for k, r in enumerate(done):
        score = "" if r["all"] is None else f"\nerr(u,f) {r['all']:.4f}"
        axes[1, k].imshow(np.clip(r["u"], 0, 1), cmap=cmap, vmin=0, vmax=1)
        axes[1, k].set_title(r["label"] + score, fontsize=9)
    if errors:
        vmax = max(float(np.nanpercentile(e, 99)) for e in errors) or 1.0
        for k, e in enumerate(errors):
            image = axes[2, k].imshow(e, cmap="magma", vmin=0, vmax=vmax)
            axes[2, k].set_title("eq. 16 error, mean of channels", fontsize=8)
        fig.colorbar(image, ax=list(axes[2]), shrink=0.8)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def run(args) -> int:
    """The ``compare`` command; returns the exit status."""
    console = _Console(args.quiet)

    def note(message):  # the inputs are checked by then: notes need not wait
        console.note(message)
        console.flush_notes()

    kwargs = _fuse_kwargs(args)
    sigma = kwargs.pop("alpha_blur", None)  # blurred here, once, for every method
    schemes = (kwargs.pop("scheme"),) if "scheme" in kwargs else SCHEMES
    (f, b, alpha), (f_info, _, _), _ = _read_inputs(args, console)
    f, b, alpha = (np.asarray(x, dtype=np.float64) for x in (f, b, alpha))
    if sigma is not None:
        if not sigma > 0:
            raise ValueError(f"--alpha-blur: must be positive, got {sigma}")
        alpha = _blur(alpha, sigma)

    # check the folder and the format once, before minutes of work
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ImageFileError(args.output, "exists and is not a folder")
    os.makedirs(args.output, exist_ok=True)
    ext = ".png" if f_info.bit_depth in ("8", "16") else ".tif"
    inputs = [p for p in (args.foreground, args.background, args.alpha) if p != "-"]
    check_output(os.path.join(args.output, "direct_matting" + ext), f_info, inputs=inputs)
    methods = _methods(args, kwargs, schemes)
    for name in [stem + ext for _, stem, _ in methods] + [TABLE, PICTURE]:
        check_destination(os.path.join(args.output, name), inputs=inputs)

    mask = alpha > 0 if alpha.ndim == 2 else (alpha > 0).any(axis=2)
    rgb = f.ndim == 3 and f.shape[2] == 3
    left_out = (chromaticity_left_out(f), chromaticity_left_out(f, mask)) if rgb else None
    note(f"comparing on {_shape_text(f.shape)}"
         + ("" if sigma is None else f", alpha blurred with sigma {sigma:g}"))

    rows, files = [], []
    for label, stem, method in methods:
        note(f"running {label}")
        row = dict(label=label, u=None, all=None, masked=None, seconds=None, note="")
        rows.append(row)
        start = time.perf_counter()
        try:
            u, row["note"] = method(f, b, alpha)
        except _Skipped as exc:
            row["note"] = f"skipped: {exc}"
            note(f"{label} skipped: {exc}")
            continue
        row.update(u=u, seconds=time.perf_counter() - start)
        if rgb:
            row["all"], row["masked"] = chromaticity_score(u, f), chromaticity_score(u, f, mask)
        path = os.path.join(args.output, stem + ext)
        files.append((path, encode_image(path, u, like=f_info)))

    table = _table(rows, left_out, mask)
    console.say(table.rstrip("\n"))
    files.append((os.path.join(args.output, TABLE), table.encode()))
    picture = _picture(f, b, alpha, rows)
    if picture is None:
        note("matplotlib is not installed, so no side-by-side picture was "
             "written (pip install 'fastosmosis[figures]')")
    else:
        files.append((os.path.join(args.output, PICTURE), picture))
    write_files_atomic(files)
    console.say(f"wrote {len(files)} files to {args.output}")
    return 0
