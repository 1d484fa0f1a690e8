"""A synthetic visible / infrared pair: what registration and the manuscript walkthrough use.

There is no openly licensed visible / infrared manuscript pair to ship, so the package
makes one from any visible image. :func:`synthetic_infrared` is a documented stand-in for
an infrared reflectogram of the same page; :func:`misaligned_pair` puts it on a second
camera's pixel grid (another resolution, a small rotation, scale and shift) and returns
the matrix that maps FIXED's pixel coordinates to MOVING's, so that a registration can
be scored against it with :func:`corner_error`.

The infrared model (a stress test for the contrast, not a physical simulation): in the
near infrared many inks and colourants that absorb in the visible (iron-gall ink, most
organic dyes) turn transparent, so the support shows through and they come out light,
while the order of the lighter tones is kept but compressed. The infrared is therefore a
non-monotonic ("partly inverted") function of the visible luminance ``L`` (Rec. 601
weights of the first three channels; a grey image is its own luminance),

    ir(L) = IR_FLOOR + IR_GAIN * (|L - IR_TURN| / (1 - IR_TURN)) ** IR_GAMMA,

dark at ``L = IR_TURN`` and light at both ends, seen through softer optics (a Gaussian
blur of ``IR_BLUR`` pixels) and a noisier sensor (Gaussian noise of standard deviation
``IR_NOISE``). Grey values of the two scans are then not related by any increasing
function: keypoints and correlation matched on them fail, mutual information does not.
"""

from __future__ import annotations

import numpy as np

from ._resample import check_matrix, luminance, map_points, resample
from ._write import to_samples
from .validation import check_number

__all__ = [
    "IR_BLUR",
    "IR_FLOOR",
    "IR_GAIN",
    "IR_GAMMA",
    "IR_NOISE",
    "IR_TURN",
    "MARGIN",
    "corner_error",
    "luminance",
    "misaligned_pair",
    "synthetic_infrared",
]

IR_TURN = 0.35  # the luminance that comes out darkest; darker tones are inverted
IR_FLOOR = 0.08
IR_GAIN = 0.87
IR_GAMMA = 0.7
IR_BLUR = 1.0  # pixels (at the visible image's resolution)
IR_NOISE = 0.02  # standard deviation, on the [0, 1] scale
MARGIN = 0.06  # the part of each side of the visible image left out of FIXED


def _response(lum):
    """ir(L) of the module docstring, before blur and noise."""
    return IR_FLOOR + IR_GAIN * (np.abs(lum - IR_TURN) / (1.0 - IR_TURN)) ** IR_GAMMA


def _as_type(x, like):
    """Floats in [0, 1] as ``like``'s sample type, as a file of that type holds them."""
    return to_samples(x, like if like.kind in "uf" else np.float64)


def synthetic_infrared(image, *, seed=0):
    """A synthetic infrared scan of ``image`` (module docstring): grey, same grid.

    ``ir = clip(G_IR_BLUR * ir(L) + n, 0, 1)`` with ``L`` the luminance, ``ir`` the
    partly inverted response, ``G_s`` a Gaussian blur of ``s`` pixels and ``n`` Gaussian
    noise of standard deviation ``IR_NOISE`` drawn with ``seed``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)``, uint8, uint16 or float in [0, 1].
    seed : int
        Seed of the noise.

    Returns
    -------
    numpy.ndarray
        ``(H, W)``, of ``image``'s sample type (uint8 / uint16 rounded, floats kept).
    """
    from scipy import ndimage

    check_number("seed", seed, integer=True, nonnegative=True)
    dtype = np.asarray(image).dtype
    ir = ndimage.gaussian_filter(_response(luminance(image)), IR_BLUR, mode="reflect")
    ir += np.random.default_rng(seed).normal(0.0, IR_NOISE, ir.shape)
    return _as_type(ir, dtype)


def misaligned_pair(visible, *, scale=0.5, angle_degrees=3.0, shift=(6.3, -4.7), seed=0):
    """A visible scan and a misaligned synthetic infrared of the same scene.

    FIXED is ``visible`` without a margin of ``MARGIN`` of each side. MOVING is the
    synthetic infrared (:func:`synthetic_infrared`, noise added at MOVING's resolution)
    seen by a second camera: its pixel coordinates are

        p_moving = scale * R(angle) (p_fixed - c_fixed) + c_moving + shift,

    with ``c`` the image centres, ``R(a) = [[cos a, -sin a], [sin a, cos a]]`` in
    (x, y) = (column, row) and MOVING ``round(scale * FIXED's height and width)`` pixels
    large, so that it covers about the same scene at ``scale`` times the resolution (the
    margin gives it real content where it reaches beyond FIXED; beyond ``visible`` it
    is black). Before resampling to a coarser grid the infrared is blurred to avoid
    aliasing (a Gaussian of ``0.5 sqrt(1 / scale**2 - 1)`` pixels on top of ``IR_BLUR``).

    Parameters
    ----------
    visible : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)``, uint8, uint16 or float in [0, 1]; at least 32 pixels
        a side.
    scale : float
        MOVING's resolution relative to FIXED's, 0.1 to 4 (0.5: half the resolution).
    angle_degrees : float
        Rotation, -45 to 45 degrees.
    shift : (float, float)
        (dx, dy) in MOVING's pixels: where FIXED's centre lands, from MOVING's centre.
    seed : int
        Seed of the noise.

    Returns
    -------
    fixed : numpy.ndarray
        The visible crop, of ``visible``'s dtype and channels.
    moving : numpy.ndarray
        The infrared, grey, of ``visible``'s dtype.
    true_matrix : numpy.ndarray
        3 x 3 float64, FIXED's pixel coordinates to MOVING's.
    """
    from scipy import ndimage

    check_number("scale", scale, positive=True)
    check_number("angle_degrees", angle_degrees)
    check_number("seed", seed, integer=True, nonnegative=True)
    if not 0.1 <= scale <= 4.0:
        raise ValueError(f"scale: must lie in [0.1, 4], got {scale!r}")
    if not -45.0 <= angle_degrees <= 45.0:
        raise ValueError(f"angle_degrees: must lie in [-45, 45], got {angle_degrees!r}")
    if not isinstance(shift, (tuple, list)) or len(shift) != 2:
        raise TypeError(f"shift: expected (dx, dy), got {shift!r}")
    for s in shift:
        check_number("shift", s)
    dtype = np.asarray(visible).dtype
    lum = luminance(visible)
    height, width = lum.shape
    if min(height, width) < 32:
        raise ValueError(f"visible: {height} x {width} is too small (at least 32 x 32)")
    m = int(round(MARGIN * min(height, width)))
    fixed = np.ascontiguousarray(np.asarray(visible)[m:height - m, m:width - m])
    fh, fw = fixed.shape[:2]
    mh, mw = max(1, int(round(scale * fh))), max(1, int(round(scale * fw)))

    a = np.deg2rad(angle_degrees)
    linear = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c_fixed = np.array([(fw - 1) / 2, (fh - 1) / 2])
    c_moving = np.array([(mw - 1) / 2, (mh - 1) / 2]) + np.asarray(shift, dtype=np.float64)
    true_matrix = np.eye(3)
    true_matrix[:2, :2] = linear
    true_matrix[:2, 2] = c_moving - linear @ c_fixed

    # MOVING's grid -> FIXED's -> visible's (FIXED starts m pixels in)
    to_visible = np.array([[1.0, 0.0, m], [0.0, 1.0, m], [0.0, 0.0, 1.0]])
    moving_to_visible = to_visible @ np.linalg.inv(true_matrix)
    blur = np.hypot(IR_BLUR, 0.5 * np.sqrt(max(0.0, 1.0 / scale**2 - 1.0)))
    ir = ndimage.gaussian_filter(_response(lum), blur, mode="reflect")
    moving = resample(ir, moving_to_visible, (mh, mw), order=3)
    moving += np.random.default_rng(seed).normal(0.0, IR_NOISE, moving.shape)
    return fixed, _as_type(moving, dtype), true_matrix


def corner_error(matrix, true_matrix, shape):
    """Mean distance, in FIXED's pixels, between FIXED's corners and where ``matrix``
    brings them back from where ``true_matrix`` sends them.

    ``mean_k |M^-1 T c_k - c_k|`` over the four corner pixels ``c_k`` of a FIXED of
    ``shape`` (pixel centres (0, 0), (W - 1, 0), (0, H - 1), (W - 1, H - 1)): the
    registration error at FIXED's resolution, largest where a rotation or scale is off.

    Parameters
    ----------
    matrix, true_matrix : array_like, 3 x 3
        Estimated and true maps from FIXED's pixel coordinates to MOVING's.
    shape : tuple of int
        FIXED's ``(H, W)`` (a channel count after them is ignored).
    """
    estimated = check_matrix(matrix, "matrix")
    true = check_matrix(true_matrix, "true_matrix")
    h, w = shape[0], shape[1]
    corners = np.array([[0.0, 0.0], [w - 1.0, 0.0], [0.0, h - 1.0], [w - 1.0, h - 1.0]])
    back = map_points(np.linalg.inv(estimated) @ true, corners)
    return float(np.mean(np.hypot(*(back - corners).T)))
