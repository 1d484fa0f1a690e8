"""The paper's Table I on your own images: fuse against the baselines.

Runs direct matting, Poisson image editing, linear osmosis and ``fuse`` with both
schemes (:func:`methods`, :func:`run_methods`) on one foreground / background / alpha
triple, scores each result by the chromaticity error against the foreground (eq. (16)
of the paper; the mean over pixels and channels, which is what Table I reports), and
makes the table (:func:`table`) and one labelled side-by-side picture
(:func:`picture`). ``fastosmosis compare`` (:mod:`fastosmosis.cli.compare`) reads the
files, writes what this module makes and prints the table.
"""

from __future__ import annotations

import io
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from . import baselines
from .metrics import chromaticity_error, chromaticity_left_out, chromaticity_score

PICTURE = "compare.png"
TABLE = "table.txt"


class Skipped(Exception):
    """A method that cannot run on this input; the table says why."""


def blur_alpha(alpha, sigma):
    """The paper's alpha blur, as ``fuse(alpha_blur=sigma)`` does it: per 2-D channel,
    ``gaussian_filter((alpha == 1), sigma)``."""
    if alpha.ndim == 3:
        return np.stack([blur_alpha(alpha[..., c], sigma) for c in range(alpha.shape[2])],
                        axis=2)
    return gaussian_filter((alpha == 1).astype(np.float64), sigma)


def methods(kwargs, schemes, *, poisson_threshold=0.5, progress=None):
    """(label, file stem, callable(f, b, alpha) -> (u, note)) in the order of Table I.

    Parameters
    ----------
    kwargs : dict
        Keywords of :func:`fastosmosis.fuse` (but ``scheme``) for its runs.
    schemes : sequence of str
        The schemes fuse runs with, one row each.
    poisson_threshold : float
        Poisson editing clones the background where alpha < ``poisson_threshold``.
    progress : callable or None
        ``progress(n_channels)`` gives fuse's ``callback`` for one run, with ``close()``
        and ``summary(result)`` (the command line's ``Progress``); None: no callback.
    """

    def baseline(function, **kw):
        def run_baseline(f, b, alpha):
            try:
                return function(f, b, alpha, **kw), ""
            except ValueError as exc:  # e.g. Poisson with nothing outside its region
                raise Skipped(str(exc)) from None

        return run_baseline

    def fuse_with(scheme):
        def run_fuse(f, b, alpha):
            import fastosmosis

            channels = 1 if f.ndim == 2 else f.shape[2]
            callback = None if progress is None else progress(channels)
            opts = dict(kwargs)
            if scheme == "paper" and opts.get("solver") == "bcd":
                del opts["solver"]  # the paper scheme is its iPiano run
            try:
                result = fastosmosis.fuse(f, b, alpha, scheme=scheme, callback=callback,
                                          **opts)
            except ValueError as exc:
                if f"{scheme!r}" in str(exc) and "scheme" in str(exc):
                    # this version of fuse lacks the scheme
                    raise Skipped(f"this fuse has no scheme {scheme!r}") from None
                raise
            finally:
                if callback is not None:
                    callback.close()
            if callback is not None:
                callback.summary(result)
            its = "/".join(str(n) for n in result.iterations)
            solver = result.parameters.get("solver", "ipiano")
            return np.asarray(result.u, dtype=np.float64), f"{its} iterations ({solver})"

        return run_fuse

    return [
        ("direct matting", "direct_matting", baseline(baselines.direct_matting)),
        ("Poisson", "poisson", baseline(baselines.poisson, threshold=poisson_threshold)),
        ("linear osmosis", "linear_osmosis", baseline(baselines.linear_osmosis)),
    ] + [(f"fuse ({s})", f"fuse_{s}", fuse_with(s)) for s in schemes]


def alpha_mask(alpha):
    """Where alpha > 0 (in any channel): the pixels of Table I's second column."""
    return alpha > 0 if alpha.ndim == 2 else (alpha > 0).any(axis=2)


def run_methods(methods, f, b, alpha, *, note=None):
    """Run each of :func:`methods` on float64 ``f``, ``b``, ``alpha`` and score it.

    Returns one row per method, a dict: ``label``, ``stem``, ``u`` (None: skipped),
    ``all`` and ``masked`` (the chromaticity error over the image and where alpha > 0;
    None for images that are not RGB), ``seconds`` and ``note``. ``note(message)``, when
    given, is told which method runs and which was skipped.
    """
    note = note or (lambda message: None)
    mask = alpha_mask(alpha)
    rgb = f.ndim == 3 and f.shape[2] == 3
    rows = []
    for label, stem, method in methods:
        note(f"running {label}")
        row = dict(label=label, stem=stem, u=None, all=None, masked=None, seconds=None,
                   note="")
        rows.append(row)
        start = time.perf_counter()
        try:
            u, row["note"] = method(f, b, alpha)
        except Skipped as exc:
            row["note"] = f"skipped: {exc}"
            note(f"{label} skipped: {exc}")
            continue
        row.update(u=u, seconds=time.perf_counter() - start)
        if rgb:
            row["all"], row["masked"] = chromaticity_score(u, f), chromaticity_score(u, f, mask)
    return rows


def table(rows, f, alpha):
    """Table I as text: one line per row of :func:`run_methods`, then what the columns
    mean."""
    mask = alpha_mask(alpha)
    rgb = f.ndim == 3 and f.shape[2] == 3
    left_out = (chromaticity_left_out(f), chromaticity_left_out(f, mask)) if rgb else None
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


def picture(f, b, alpha, rows):
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
