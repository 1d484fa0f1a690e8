"""The chromaticity error of the paper (eq. (16)) and its summary score (Table I).

For an RGB image z the geometric chromaticity mean is ``GCM(z) = (z_R z_G z_B)^(1/3)``
and the per-pixel, per-channel error between u1 and u2 is

    err(u1, u2)_c = | u1_c / GCM(u1) - u2_c / GCM(u2) |.

GCM is 0 where a channel is 0. The image being scored, u1, is therefore clipped to
[1/255, 1] first (a fusion result is not clipped, and an 8-bit file of it could not
hold less than 1/255 other than 0); the reference u2 is used as it is, and the pixels
where it has a zero channel are left out (NaN in the map).

The two no-reference scores of Table I live in their own modules and are exported
here: :func:`brisque` (OpenCV's BRISQUE, optional extra ``brisque``) and :func:`fmi`
(Haghighat and Razian's Fast-FMI).
"""

from __future__ import annotations

import numpy as np

from ._brisque import BRISQUE_CHANNELS, brisque
from ._fmi import FMI_FEATURES, TABLE_I_FEATURE, fmi
from .validation import as_float

__all__ = ["chromaticity_error", "chromaticity_score", "chromaticity_left_out", "brisque",
           "BRISQUE_CHANNELS", "fmi", "FMI_FEATURES", "TABLE_I_FEATURE"]

_U1_MIN = 1.0 / 255.0


def _as_rgb(x, name: str, *, nonnegative: bool = False) -> np.ndarray:
    """``x`` as a finite float64 H x W x 3 array; uint8 / 255, uint16 / 65535."""
    a = as_float(x, name, nonnegative=nonnegative)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name}: the chromaticity error needs an RGB image H x W x 3, "
                         f"got shape {a.shape}")
    return a


def _left_out(u2: np.ndarray) -> np.ndarray:
    """H x W: pixels where the reference has a zero channel (its GCM is 0)."""
    return (u2 == 0).any(axis=2)


def _mask(mask, shape) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.shape != shape:
        raise ValueError(f"mask: shape {m.shape} must be {shape}")
    return m.astype(bool)


def chromaticity_error(u1, u2) -> np.ndarray:
    """Per-pixel, per-channel chromaticity error of eq. (16).

    ``err_c = | u1_c / GCM(u1) - u2_c / GCM(u2) |`` with ``GCM(z) = (z_R z_G z_B)^(1/3)``.

    Parameters
    ----------
    u1 : array_like, H x W x 3
        The image being scored, clipped to [1/255, 1] first. uint8 / uint16 are scaled
        to [0, 1].
    u2 : array_like, H x W x 3
        The reference (the foreground ``f`` in Table I), non-negative, used as it is.

    Returns
    -------
    numpy.ndarray
        float64 H x W x 3; NaN at the pixels where u2 has a zero channel.
    """
    u1 = np.clip(_as_rgb(u1, "u1"), _U1_MIN, 1.0)
    u2 = _as_rgb(u2, "u2", nonnegative=True)
    if u1.shape != u2.shape:
        raise ValueError(f"u2: shape {u2.shape} differs from u1's {u1.shape}")
    out = _left_out(u2)
    gcm1 = np.cbrt(u1.prod(axis=2, keepdims=True))
    gcm2 = np.cbrt(u2.prod(axis=2, keepdims=True))
    gcm2[out] = 1.0  # avoids 0/0; those pixels become NaN below
    err = np.abs(u1 / gcm1 - u2 / gcm2)
    err[out] = np.nan
    return err


def chromaticity_score(u1, u2, mask=None, reduce="mean") -> float:
    """Chromaticity error of eq. (16) summarised over pixels and channels.

    ``reduce="mean"``: the mean of :func:`chromaticity_error` over the pixels in
    ``mask`` that are not left out, and the three channels. This is what the paper's
    Table I column ``||err(u, f)||_2`` turns out to be: on the faces example, direct
    matting scores 0.0181 this way against the 0.0178 printed (the authors blurred alpha
    with MATLAB's imgaussfilt). ``reduce="rms"``: the root mean square instead (0.090
    there).

    Parameters
    ----------
    u1, u2 : array_like, H x W x 3
        As in :func:`chromaticity_error`.
    mask : array_like of bool, H x W, optional
        Pixels to score; all by default.
    reduce : {"mean", "rms"}

    Returns
    -------
    float
        NaN if no pixel is left to score.
    """
    if reduce not in ("mean", "rms"):
        raise ValueError(f"reduce: must be 'mean' or 'rms', got {reduce!r}")
    err = chromaticity_error(u1, u2)
    keep = _mask(mask, err.shape[:2]) & ~np.isnan(err[..., 0])
    if not keep.any():
        return float("nan")
    e = err[keep]
    return float(e.mean() if reduce == "mean" else np.sqrt(np.mean(e * e)))


def chromaticity_left_out(u2, mask=None) -> int:
    """Number of pixels (in ``mask``, if given) that :func:`chromaticity_score` leaves
    out because the reference ``u2`` has a zero channel there."""
    u2 = _as_rgb(u2, "u2", nonnegative=True)
    return int(np.count_nonzero(_left_out(u2) & _mask(mask, u2.shape[:2])))
