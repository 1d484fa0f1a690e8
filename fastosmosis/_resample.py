"""Pixel grids: resampling through a 3 x 3 matrix, and the luminance.

Part of :mod:`fastosmosis.registration` (which re-exports :func:`resample`) and used by
:mod:`fastosmosis.synthetic` to make a misaligned pair. The matrix is homogeneous and maps
the OUTPUT grid's pixel coordinates to the INPUT's: ``(x, y, 1) -> M (x, y, 1)``, with x
the column, y the row and pixel centres at integers, so that a registration's matrix
(FIXED's coordinates to MOVING's) resamples MOVING onto FIXED's grid as it is.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .validation import Image

__all__ = ["ORDERS", "check_matrix", "check_shape", "luminance", "map_points", "resample"]

ORDERS = (0, 1, 3)  # nearest, linear, cubic B-spline
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601


def luminance(image, name="image"):
    """The luminance of ``image`` as float64 in [0, 1] (Rec. 601 weights of the first three
    channels; a grey image, or grey + alpha, is its own luminance).

    Parameters
    ----------
    image : numpy.ndarray or Image
        ``(H, W)`` or ``(H, W, C)``, uint8, uint16 or float (finite, non-negative).
    name : str
        What the error messages call it.
    """
    if not isinstance(image, Image):
        image = Image(name, image)
    if image.channels < 3:
        return image.channel(0)
    lum = LUMA[0] * image.channel(0)
    lum += LUMA[1] * image.channel(1)
    lum += LUMA[2] * image.channel(2)
    return lum


def check_matrix(matrix, name="matrix"):
    """``matrix`` as a 3 x 3 float64 affine matrix (last row 0, 0, 1, invertible)."""
    try:
        m = np.array(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a 3 x 3 array of numbers, got {matrix!r}") from None
    if m.shape != (3, 3):
        raise ValueError(f"{name}: expected a 3 x 3 matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if not np.allclose(m[2], (0.0, 0.0, 1.0), atol=1e-12):
        raise ValueError(f"{name}: last row must be 0, 0, 1 (an affine map), got {m[2]}")
    if abs(np.linalg.det(m[:2, :2])) < 1e-12:
        raise ValueError(f"{name}: is singular (it maps the image onto a line)")
    return m


def check_shape(shape, name="shape"):
    """``(height, width)`` of ``shape`` (a channel count after them is ignored)."""
    if not isinstance(shape, (tuple, list)) or len(shape) < 2:
        raise TypeError(f"{name}: expected (height, width), got {shape!r}")
    for n in shape[:2]:
        if isinstance(n, bool) or not isinstance(n, Integral):
            raise TypeError(f"{name}: expected whole numbers, got {shape!r}")
        if n < 1:
            raise ValueError(f"{name}: height and width must be positive, got {shape!r}")
    return int(shape[0]), int(shape[1])


def map_points(matrix, points):
    """``points`` (N x 2, columns x and y) mapped by the 3 x 3 ``matrix``."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def resample(moving, matrix, shape, *, order=3):
    """Resample ``moving`` onto a grid of ``shape`` through ``matrix``, keeping its type.

    Output pixel (x, y) takes MOVING's value at ``M (x, y, 1)``, interpolated with a
    B-spline of degree ``order``; points outside MOVING get 0. Each channel is resampled
    on its own and clipped to its own range in MOVING (a cubic spline overshoots at
    edges), then brought back to MOVING's sample type (uint8 and uint16 rounded, floats
    kept in their precision).

    Parameters
    ----------
    moving : numpy.ndarray
        ``(h, w)`` or ``(h, w, C)``, uint8, uint16 or float (finite, non-negative).
    matrix : array_like, 3 x 3
        From the output's pixel coordinates to MOVING's (x = column, y = row).
    shape : tuple of int
        ``(H, W)`` of the output; a channel count after them is ignored (MOVING's is kept).
    order : {0, 1, 3}
        Nearest neighbour, linear or cubic B-spline interpolation.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` of MOVING's dtype.
    """
    from scipy import ndimage

    image = moving if isinstance(moving, Image) else Image("moving", moving)
    m = check_matrix(matrix)
    h, w = check_shape(shape)
    if isinstance(order, bool) or order not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}")
    # scipy indexes (row, column): swap x and y in the matrix and in the offset
    linear = m[:2, :2][::-1, ::-1].copy()
    offset = m[:2, 2][::-1].copy()
    out = np.empty((h, w) + image.shape[2:], dtype=image.array.dtype)
    for c in range(image.channels):
        x = image.channel(c)
        y = ndimage.affine_transform(x, linear, offset=offset, output_shape=(h, w),
                                     order=order, mode="constant", cval=0.0)
        np.clip(y, min(float(x.min()), 0.0), float(x.max()), out=y)
        if image.divisor is not None:
            y = np.rint(y * image.divisor)
        if out.ndim == 2:
            out[:] = y
        else:
            out[:, :, c] = y
    return out
