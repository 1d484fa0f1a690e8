"""The paper's Table I on your own images: fuse against the baselines.

Runs the seven methods of Table I, direct matting, structure-aware fusion,
guided-filter fusion, Poisson image editing, nonlinear spectral fusion, linear osmosis
and ``fuse`` (with both schemes) (:func:`methods`, :func:`run_methods`) on one
foreground / background / alpha triple, scores each result by the chromaticity error
against the foreground (eq. (16) of the paper; the mean over pixels and channels, which
is what Table I reports), BRISQUE and FMI (averaged over the colour channels, as Table
I), and makes the table next to the paper's printed values for its faces example
(:func:`table`, :data:`PAPER_TABLE_I`) and one labelled side-by-side picture
(:func:`picture`). ``fastosmosis compare`` (:mod:`fastosmosis.cli.compare`) reads the
files, writes what this module makes and prints the table.
"""

from __future__ import annotations

import io
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from . import baselines
from ._optional import MissingDependencyError
from .metrics import (
    TABLE_I_FEATURE,
    brisque,
    chromaticity_error,
    chromaticity_left_out,
    chromaticity_score,
    fmi,
)

PICTURE = "compare.png"
TABLE = "table.txt"

# Table I of Parisotto et al. (faces, Fig. 5): err(u, f), BRISQUE, FMI, by the labels of
# methods(); both schemes of fuse are the paper's "Proposed".
PAPER_TABLE_I = {
    "direct matting": (0.0178, 30.3, 0.895),
    "structure-aware": (0.0659, 30.9, 0.879),
    "guided filter": (0.0790, 32.6, 0.883),
    "Poisson": (0.0111, 30.2, 0.896),
    "spectral": (0.0087, 30.1, 0.896),
    "linear osmosis": (0.0452, 30.2, 0.895),
    "fuse": (0.0062, 30.1, 0.895),
}
FMI_FEATURE = TABLE_I_FEATURE  # the FMI feature whose values Table I's match


def paper_values(label):
    """Table I's (err, BRISQUE, FMI) for a label of :func:`methods`, or None."""
    return PAPER_TABLE_I.get(label.split(" (")[0])


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
            except MissingDependencyError as exc:  # its message has the install hint
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
        ("structure-aware", "structure_aware", baseline(baselines.structure_aware)),
        ("guided filter", "guided_filter", baseline(baselines.guided_fusion)),
        ("Poisson", "poisson", baseline(baselines.poisson, threshold=poisson_threshold)),
        ("spectral", "spectral", baseline(baselines.spectral_fusion)),
        ("linear osmosis", "linear_osmosis", baseline(baselines.linear_osmosis)),
    ] + [(f"fuse ({s})", f"fuse_{s}", fuse_with(s)) for s in schemes]


def alpha_mask(alpha):
    """Where alpha > 0 (in any channel): the pixels of Table I's second column."""
    return alpha > 0 if alpha.ndim == 2 else (alpha > 0).any(axis=2)


def _as_8bit(u):
    """u as an 8-bit file of it would hold it, back in [0, 1] (the no-reference scores
    are of the image one looks at)."""
    return np.rint(np.clip(u, 0.0, 1.0) * 255.0) / 255.0


def run_methods(methods, f, b, alpha, *, note=None, fmi_feature=FMI_FEATURE):
    """Run each of :func:`methods` on float64 ``f``, ``b``, ``alpha`` and score it.

    Returns ``(rows, skipped_scores)``. One row per method, a dict: ``label``,
    ``stem``, ``u`` (None: skipped), ``all`` and ``masked`` (the chromaticity error over
    the image and where alpha > 0; None for images that are not RGB), ``brisque`` and
    ``fmi`` (of the result rounded to 8 bits, averaged over the channels; FMI against
    f and b with ``fmi_feature``, window 3; None when not computed), ``seconds`` (the
    method alone) and ``note``. ``skipped_scores`` maps a score whose optional
    dependency is missing to the message with its install hint. ``note(message)``,
    when given, is told which method runs and which was skipped.
    """
    note = note or (lambda message: None)
    mask = alpha_mask(alpha)
    rgb = f.ndim == 3 and f.shape[2] == 3
    f8, b8 = _as_8bit(f), _as_8bit(b)
    skipped_scores = {}
    rows = []
    for label, stem, method in methods:
        note(f"running {label}")
        row = dict(label=label, stem=stem, u=None, all=None, masked=None, brisque=None,
                   fmi=None, seconds=None, note="")
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
        u8 = _as_8bit(u)
        if min(u.shape[:2]) >= 3:
            row["fmi"] = fmi(f8, b8, u8, feature=fmi_feature)
        if "BRISQUE" not in skipped_scores and min(u.shape[:2]) >= 16:
            try:
                row["brisque"] = brisque(u8)
            except MissingDependencyError as exc:
                skipped_scores["BRISQUE"] = str(exc)
                note(f"BRISQUE skipped: {exc}")
    return rows, skipped_scores


def table(rows, f, alpha, skipped_scores=None, *, fmi_feature=FMI_FEATURE):
    """Table I as text: one line per row of :func:`run_methods` with the paper's
    printed values for its faces example beside it, then what the columns mean and
    which scores were skipped."""
    mask = alpha_mask(alpha)
    rgb = f.ndim == 3 and f.shape[2] == 3
    left_out = (chromaticity_left_out(f), chromaticity_left_out(f, mask)) if rgb else None
    fmt = lambda x, spec: "-" if x is None else format(x, spec)  # noqa: E731
    head = ("method", "err all", "err alpha>0", "BRISQUE", "FMI", "seconds",
            "paper err", "paper BRISQUE", "paper FMI", "left out", "note")
    lines = [head]
    for r in rows:
        paper = paper_values(r["label"]) or (None, None, None)
        lines.append((
            r["label"], fmt(r["all"], ".4f"), fmt(r["masked"], ".4f"),
            fmt(r["brisque"], ".1f"), fmt(r["fmi"], ".3f"), fmt(r["seconds"], ".2f"),
            fmt(paper[0], ".4f"), fmt(paper[1], ".1f"), fmt(paper[2], ".3f"),
            "-" if left_out is None or r["u"] is None else f"{left_out[0]} / {left_out[1]}",
            r["note"]))
    widths = [max(len(line[k]) for line in lines) for k in range(len(head))]
    last = len(head) - 1
    text = ["  ".join(cell.ljust(w) if k in (0, last) else cell.rjust(w)
                      for k, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
            for line in lines]
    text.insert(1, "-" * len(text[0]))
    if left_out is None:
        text.append("No chromaticity error: eq. 16 needs RGB images.")
    else:
        text.append(
            "err: chromaticity error of eq. 16 against the foreground, mean over "
            f"pixels and channels; alpha>0 covers {int(mask.sum())} of {mask.size} pixels.\n"
            "left out: pixels where the foreground has a zero channel (no GCM), "
            "whole image / alpha>0."
        )
    text.append(
        "BRISQUE (OpenCV, LIVE model; lower is better) and FMI (Fast-FMI against f and b, "
        f"{fmi_feature} feature, 3 x 3 windows) of the result rounded to 8 bits, mean of "
        "the channels.\npaper: Table I of Parisotto et al. for its faces example (Fig. 5; "
        "fuse = 'Proposed'); only comparable on those images.")
    for score, message in (skipped_scores or {}).items():
        text.append(f"{score} skipped: {message}")
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
        score += "" if r["brisque"] is None else f" BRISQUE {r['brisque']:.1f}"
        score += "" if r["fmi"] is None else f"\nFMI {r['fmi']:.3f}"
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
