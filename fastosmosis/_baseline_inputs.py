"""The inputs every baseline fusion method takes, checked and converted once.

The baselines (:mod:`fastosmosis.baselines`) take ``fuse``'s arguments ``foreground``,
``background`` and ``alpha``; :func:`check_inputs` turns them into float64 H x W x C
arrays and gives back a function that returns a result in the foreground's shape.
"""

from __future__ import annotations

import numpy as np

from .validation import as_float

__all__ = ["ALPHA_USES", "check_inputs"]

# How a fusion method of two whole images, without a mask, gets alpha: "ignore" fuses
# the two images as its authors do (Table I's values match this reading:
# bench/table1.py), "blend" puts f back where alpha = 1: ``u = alpha f + (1 - alpha) F``.
ALPHA_USES = ("ignore", "blend")


def check_inputs(foreground, background, alpha):
    """Checked float64 copies (f, b, alpha), all H x W x C (C = 1 for grey), and a
    function that gives a result back the shape of the foreground.

    Raises TypeError (wrong dtype) or ValueError (bad values, shapes) naming the
    argument, before any work.
    """
    f = as_float(foreground, "foreground")
    b = as_float(background, "background")
    alpha = as_float(alpha, "alpha")
    if b.shape != f.shape:
        raise ValueError(f"background: shape {b.shape} differs from the foreground's "
                         f"{f.shape}")
    if alpha.shape != f.shape and alpha.shape != f.shape[:2]:
        raise ValueError(f"alpha: shape {alpha.shape} must be {f.shape[:2]}"
                         + (f" or {f.shape}" if f.ndim == 3 else ""))
    if alpha.max() > 1:
        raise ValueError("alpha: values must lie in [0, 1]")
    grey = f.ndim == 2
    if grey:
        f, b = f[..., None], b[..., None]
    if alpha.ndim == 2:
        alpha = np.broadcast_to(alpha[..., None], f.shape)

    def back(u):
        return u[..., 0] if grey else u

    return f, b, alpha, back
