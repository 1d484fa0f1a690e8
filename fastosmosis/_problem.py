"""One channel's problem: the offset, the alpha map (blurred if asked), the target
``w = f^alpha b^(1 - alpha)`` and the start (u0, v0) (docs/model.md 1), computed a band of
rows at a time from the validated inputs (:class:`fastosmosis.validation.Image`)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

PREP_ROWS = 256  # rows converted at a time, so float64 temporaries stay small


def alpha_source(a, c, alpha_blur):
    """Rows -> alpha of channel c (float64): blurred once whole, else read as needed."""
    if alpha_blur is None:
        return lambda rows: a.channel(c, rows)
    blurred = gaussian_filter((a.channel(c) == 1).astype(np.float64), alpha_blur)
    return lambda rows: blurred[rows]


def bands(height):
    return [slice(r, min(r + PREP_ROWS, height)) for r in range(0, height, PREP_ROWS)]


def check_init(init, a, alpha_blur, channels):
    """init="mean" divides by sum(alpha) and sum(1 - alpha): refuse 0 before any work.

    With ``alpha_blur`` the test reads the indicator of alpha == 1 without blurring it:
    the blurred indicator is 0 everywhere exactly when the indicator is (the Gaussian's
    weights are positive), and 1 everywhere when it is (they sum to 1 under reflection,
    where the blur itself may round 1 to 1 - 1e-16 and let an all-ones alpha through).
    """
    if init != "mean":
        return
    for c in range(channels if a.channels > 1 else 1):
        alpha = a.channel(c)
        if alpha_blur is not None:
            alpha = (alpha == 1).astype(np.float64)
        if alpha.sum() == 0 or (1 - alpha).sum() == 0:
            which = "0" if alpha.sum() == 0 else "1"
            raise ValueError(f"init: 'mean' needs alpha not all {which} (channel {c})")


def channel_problem(fi, bi, ai, c, *, init, offset, alpha_blur, dtype):
    """Channel c as (f, alpha, w, u0, v0), C-contiguous arrays of ``dtype``.

    b enters only through the target w: the solver never needs it again.

    ``w = f^alpha b^(1 - alpha)`` and u0 (docs/model.md 1) are computed in float64 a band of
    rows at a time, so that a float32 problem never holds float64 copies of a whole
    channel (a 4096 x 4096 channel is 134 MB per float64 array).
    """
    h, wd = fi.shape[:2]
    alpha_of = alpha_source(ai, c, alpha_blur)
    row_bands = bands(h)
    if init == "mean":  # the weighted means of f and b over the whole channel
        sums = np.zeros(4)
        for rows in row_bands:
            f, b, a = fi.channel(c, rows) + offset, bi.channel(c, rows) + offset, alpha_of(rows)
            sums += ((a * f).sum(), a.sum(), ((1 - a) * b).sum(), (1 - a).sum())
        m_f, m_b = sums[0] / sums[1], sums[2] / sums[3]
    out = tuple(np.empty((h, wd), dtype) for _ in range(5))
    for rows in row_bands:
        f, b, a = fi.channel(c, rows) + offset, bi.channel(c, rows) + offset, alpha_of(rows)
        w = f**a * b ** (1 - a)
        if init == "foreground":
            u0 = f
        elif init == "blend":
            u0 = a * f + (1 - a) * b
        else:
            u0 = a * m_f + (1 - a) * m_b
        for target, x in zip(out, (f, a, w, u0, w), strict=True):
            target[rows] = x
    return out
