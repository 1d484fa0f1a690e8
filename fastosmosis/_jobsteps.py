"""The steps of a file job before the fusion: registration and matting, with their notes
and their sections of the report.

Part of :mod:`fastosmosis.jobs`. Each step calls the library's function
(:func:`fastosmosis.registration.register`, :func:`fastosmosis.matting.alpha_from_trimap`),
says in one note what it found, and returns the report's section for it.
"""

from __future__ import annotations

import contextlib

from .inputs import shape_text
from .report import similarity_of

__all__ = ["matte", "register_background"]


def register_background(fg, bg, transform, names, note):
    """Register ``bg`` onto ``fg`` (mutual information; fixed = the foreground).

    Returns
    -------
    registered : numpy.ndarray
        The background on the foreground's pixel grid, its channels and sample type.
    section : dict
        ``transform``, ``matrix`` (FOREGROUND's pixel coordinates to BACKGROUND's),
        ``metric`` (the final Mattes metric, minus the mutual information), ``iterations``,
        ``seconds``, ``stop_reason``, ``registered_at`` (the foreground's size at the
        finest level), ``overlap`` and the matrix's ``scale``, ``rotation_degrees`` and
        ``shift`` (:func:`fastosmosis.report.similarity_of`).
    """
    from .registration import register

    with _named(names, fixed="foreground", moving="background"):
        result = register(fixed=fg, moving=bg, transform=transform)
    section = {
        "transform": result.transform,
        "matrix": result.matrix,
        "metric": result.metric,
        "iterations": result.iterations,
        "seconds": result.seconds,
        "stop_reason": result.stop_reason,
        "registered_at": list(result.registered_at),
        "overlap": result.overlap,
        **similarity_of(result.matrix),
    }
    shift = section["shift"]
    note(f"{names['background']}: registered onto {names['foreground']} ({result.transform}"
         f"): scale {section['scale']:.4g} (background pixels per foreground pixel), "
         f"rotation {section['rotation_degrees']:.3g} degrees, shift ({shift[0]:.1f}, "
         f"{shift[1]:.1f}) px; Mattes metric {result.metric:.4g} (minus the mutual "
         f"information), at {shape_text(result.registered_at)}, {result.iterations} "
         f"iterations, {result.seconds:.1f} s")
    return result.registered, section


def matte(image, trimap, method, names, note):
    """Alpha of ``image`` (the foreground) from ``trimap`` by the matting ``method``.

    Returns
    -------
    alpha : numpy.ndarray
        float64, H x W, in [0, 1].
    section : dict
        ``method``, ``solved_shape`` (the size the matting ran at), ``shape`` (alpha's)
        and ``seconds``.
    """
    from .matting import alpha_from_trimap

    with _named(names, image="foreground", trimap="trimap"):
        result = alpha_from_trimap(image, trimap, method=method)
    full = tuple(result.alpha.shape)
    solved = tuple(result.solved_shape)
    where = "" if solved == full else (f" (the image is {shape_text(full)}; alpha brought "
                                       "back to it by a guided filter)")
    note(f"{names['trimap']}: alpha by {method.upper()} matting at {shape_text(solved)}{where}, "
         f"{result.seconds:.1f} s")
    section = {"method": result.method, "solved_shape": list(solved), "shape": list(full),
               "seconds": result.seconds}
    return result.alpha, section


@contextlib.contextmanager
def _named(names, **roles):
    """Errors of a step that name its arguments (``moving: too small``) name the files
    instead (``ir.png: too small``); ``roles`` maps an argument to its role in ``names``,
    the job's ``{role: file}``. The error keeps its type (RegistrationError, say)."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        head, sep, rest = str(exc).partition(":")
        if not (sep and roles.get(head) in names):
            raise
        raise type(exc)(f"{names[roles[head]]}:{rest}") from None
