"""Alpha maps from trimaps: KNN matting and closed-form matting, by pymatting.

The trimap marks what is known: its type's maximum (255 for uint8, 65535 for uint16,
1.0 for floats) is foreground, alpha = 1; 0 is background, alpha = 0; anything else is
unknown, and the matting fills it in:

- ``"knn"``: KNN matting, Q. Chen, D. Li, C.-K. Tang, "KNN Matting", IEEE TPAMI 35(9),
  2013 (pymatting's ``estimate_alpha_knn``: the Laplacian of a graph joining each pixel
  to its nearest neighbours in colour and position, the known pixels as penalties);
- ``"cf"``: closed-form matting, A. Levin, D. Lischinski, Y. Weiss, "A Closed-Form
  Solution to Natural Image Matting", IEEE TPAMI 30(2), 2008 (``estimate_alpha_cf``:
  alpha locally an affine function of the colour, the known pixels as constraints).

Both solve a sparse linear system with one unknown per pixel; KNN's needs about 3.5 GB
per megapixel. Above ``max_pixels`` the matting runs at a reduced size (area averages of
the image; a reduced pixel is known only where its whole footprint is) and alpha comes
back to full resolution by the fast guided filter (K. He, J. Sun, "Fast Guided Filter",
arXiv:1505.00996, 2015; the guided filter of K. He, J. Sun, X. Tang, IEEE TPAMI 35(6),
2013): in each small window of the reduced size, alpha is fitted as an affine function
of the reduced image's colour (the same local model as closed-form matting), the
coefficients are averaged over the windows, enlarged bilinearly and applied to the full
image's colour, so edges come back where the full image has them
(:func:`fastosmosis.filters.guided_upsample`). The trimap's known pixels are then exactly
0 and 1 and the rest is clipped to [0, 1].

The default window radius (2 reduced pixels) and ridge weight (1e-5) were chosen by
measurement on the puppets (``python3 -m bench.matting --sweep``): the mean absolute
error over the unknown pixels at 2x, 4x and 8x reduction was within 0.0015 of the best of
radius 1, 2, 4 and eps 1e-6 to 1e-3 for both methods (eps 1e-3 was 0.004-0.009 worse);
e.g. closed-form matting at 4x: 0.103 from the published alpha, against 0.125 for a
bilinear enlargement and 0.122 for the guided filter of the bilinear enlargement under
the full image (the method this replaces), and 0.091 solved at full size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._area import resize
from ._optional import require
from .filters import guided_upsample
from .validation import Image, check_choice, check_number

__all__ = ["METHODS", "MattingResult", "alpha_from_trimap", "reduce_known", "solve_shape",
           "trimap_from_alpha", "trimap_masks"]

METHODS = ("knn", "cf")  # the pymatting estimators, estimate_alpha_<name>
UNKNOWN = 128  # the unknown value of the trimaps trimap_from_alpha makes
UPSAMPLE_RADIUS = 2  # the fast guided filter's window radius, in reduced-size pixels
UPSAMPLE_EPS = 1e-5  # and its ridge weight (image values in [0, 1]); measured, see above


@dataclass(frozen=True)
class MattingResult:
    """What :func:`alpha_from_trimap` returns.

    Attributes
    ----------
    alpha : numpy.ndarray
        float64, H x W, in [0, 1]; exactly 1 and 0 on the trimap's known pixels.
    solved_shape : tuple of int
        ``(h, w)``, the size the matting ran at (the image's own below ``max_pixels``).
    method : str
        ``"knn"`` or ``"cf"``.
    seconds : float
        Wall time of the matting, the resizing and the fast guided upsampling.
    """

    alpha: np.ndarray
    solved_shape: tuple
    method: str
    seconds: float


def alpha_from_trimap(image, trimap, *, method="knn", max_pixels=1_000_000,
                      radius=UPSAMPLE_RADIUS, eps=UPSAMPLE_EPS, notes=None):
    """Alpha map of ``image`` from a trimap, by KNN or closed-form matting (pymatting).

    Parameters
    ----------
    image : array, H x W (grey) or H x W x 3
        uint8, uint16 or floats in [0, 1].
    trimap : array, H x W (or H x W x C with equal channels, a grey trimap saved as RGB)
        uint8, uint16 or float: the type's maximum (255, 65535, 1.0) is foreground, 0
        background, anything else unknown.
    method : {"knn", "cf"}
        KNN matting (Chen, Li, Tang 2013) or closed-form matting (Levin et al. 2008).
    max_pixels : int
        Above this many pixels the matting runs at the largest size with at most
        ``max_pixels`` and the same aspect (see :func:`solve_shape`), and alpha is brought
        back by the fast guided filter (:func:`fastosmosis.filters.guided_upsample`, the
        area-averaged image as the low-resolution guide, the image as the full one).
    radius : int
        Window radius of that filter in reduced-size pixels (:data:`UPSAMPLE_RADIUS`,
        chosen by measurement: see the module's docstring).
    eps : float
        Its ridge weight, image values in [0, 1] (:data:`UPSAMPLE_EPS`): smaller follows
        the image's colour more closely, larger smooths.
    notes : callable, optional
        Called with one line (the method and the size it runs at) once the inputs are
        checked, before the matting starts.

    Returns
    -------
    MattingResult

    Raises
    ------
    TypeError, ValueError
        Before any work: a wrong type or value, sizes that differ, a trimap with no
        known foreground or background, or one whose known regions vanish at the
        reduced size. :class:`~fastosmosis._optional.MissingDependencyError` when
        pymatting is not installed.
    """
    check_choice("method", method, METHODS)
    check_number("max_pixels", max_pixels, positive=True, integer=True)
    check_number("radius", radius, positive=True, integer=True)
    check_number("eps", eps, positive=True)
    img = _image_float32(image)
    fg, bg = trimap_masks(trimap, img.shape[:2])
    pymatting = require("pymatting", "matting")
    start = time.perf_counter()
    full = img.shape[:2]
    small = solve_shape(full, max_pixels)
    if small != full:
        fg_small, bg_small = reduce_known(fg, small), reduce_known(bg, small)
        _check_known(fg_small, bg_small, f"at the reduced size {small[0]} x {small[1]} "
                     f"(max_pixels={max_pixels}), ", "; raise max_pixels")
    if notes is not None:
        notes(f"{method} matting at " + ("full size" if small == full else
              f"{small[0]} x {small[1]} (reduced from {full[0]} x {full[1]}, above "
              f"max_pixels={max_pixels})"))
    if small == full:
        alpha = _solve(pymatting, method, img, fg, bg, full)
    else:
        reduced = np.clip(resize(img, small, "area"), 0.0, 1.0)  # rounding: 1 + 1e-7
        low = _solve(pymatting, method, reduced, fg_small, bg_small, small)
        del fg_small, bg_small
        alpha = guided_upsample(low, reduced, img, radius, eps)
    alpha[fg] = 1.0
    alpha[bg] = 0.0
    np.clip(alpha, 0.0, 1.0, out=alpha)
    return MattingResult(alpha, small, method, time.perf_counter() - start)


def solve_shape(shape, max_pixels):
    """The size ``(h, w)`` the matting runs at: ``shape`` itself if it has at most
    ``max_pixels`` pixels, else ``floor(H / s), floor(W / s)`` with
    ``s = sqrt(H W / max_pixels)`` (at least 1 x 1)."""
    height, width = int(shape[0]), int(shape[1])
    if height * width <= max_pixels:
        return (height, width)
    s = math.sqrt(height * width / max_pixels)
    return (max(1, math.floor(height / s)), max(1, math.floor(width / s)))


def trimap_masks(trimap, shape):
    """``(foreground, background)``, boolean H x W masks of a trimap checked against an
    image of size ``shape`` = (H, W): the type's maximum and 0; ValueError otherwise."""
    t = Image("trimap", trimap)
    if t.array.ndim == 3:
        channels = t.array
        if any(not np.array_equal(channels[:, :, 0], channels[:, :, c])
               for c in range(1, t.channels)):
            raise ValueError(f"trimap: its {t.channels} channels differ; a trimap is one "
                             "grey channel (equal channels are fine)")
        t = Image("trimap", channels[:, :, 0])
    if t.shape != tuple(shape):
        raise ValueError(f"trimap: size {t.shape[0]} x {t.shape[1]} differs from the "
                         f"image's {shape[0]} x {shape[1]}")
    top = t.divisor or 1.0
    if t.divisor is None and t.max() > 1:
        raise ValueError(f"trimap: float values must lie in [0, 1], max is {t.max():.4g}")
    fg, bg = t.array == top, t.array == 0
    _check_known(fg, bg, "", f" (foreground is {top:g}, background 0)")
    return fg, bg


def trimap_from_alpha(alpha, erode=5):
    """A trimap from an alpha map: uint8, 255 where alpha == 1 and 0 where alpha == 0,
    each region eroded by a disc of radius ``erode`` pixels (the image border does not
    erode), :data:`UNKNOWN` (128) elsewhere.

    ``alpha``: H x W (or equal channels), uint8 / uint16 / floats in [0, 1], its type's
    maximum meaning 1. ``erode``: whole number >= 0 (0 keeps the regions as they are).
    """
    check_number("erode", erode, nonnegative=True, integer=True)
    a = Image("alpha", alpha)
    if a.array.ndim == 3:
        if any(not np.array_equal(a.array[:, :, 0], a.array[:, :, c])
               for c in range(1, a.channels)):
            raise ValueError(f"alpha: its {a.channels} channels differ; expected one channel")
        a = Image("alpha", a.array[:, :, 0])
    if a.divisor is None and a.max() > 1:
        raise ValueError(f"alpha: values must lie in [0, 1], max is {a.max():.4g}")
    fg, bg = a.array == (a.divisor or 1.0), a.array == 0
    if erode > 0:
        y, x = np.ogrid[-erode:erode + 1, -erode:erode + 1]
        disc = x * x + y * y <= erode * erode
        fg = ndimage.binary_erosion(fg, structure=disc, border_value=1)
        bg = ndimage.binary_erosion(bg, structure=disc, border_value=1)
    trimap = np.full(a.shape, UNKNOWN, dtype=np.uint8)
    trimap[fg] = 255
    trimap[bg] = 0
    return trimap


def _image_float32(image):
    """The image as float32 H x W x 3 (a grey image repeated) in [0, 1], checked."""
    im = Image("image", image)
    if im.array.ndim == 3 and im.channels not in (1, 3):
        raise ValueError(f"image: expected grey or RGB (1 or 3 channels), got {im.channels}"
                         " (drop the alpha channel)")
    if im.divisor is None and im.max() > 1:
        raise ValueError(f"image: float values must lie in [0, 1], max is {im.max():.4g}")
    x = im.array.astype(np.float32)
    if im.divisor is not None:
        x /= np.float32(im.divisor)
    if x.ndim == 2:
        return x
    return x[:, :, 0] if im.channels == 1 else x


def _check_known(fg, bg, where, hint):
    for mask, what in ((fg, "foreground"), (bg, "background")):
        if not mask.any():
            raise ValueError(f"trimap: {where}no pixel is known {what}{hint}")


def reduce_known(mask, shape):
    """A known-pixel mask (boolean H x W) at the reduced size ``shape`` = (h, w): a reduced
    pixel is known where the whole footprint it area-averages is (:mod:`fastosmosis._area`)."""
    return resize(mask.astype(np.float32), shape, "area") >= 1.0 - 1e-5


def _solve(pymatting, method, img, fg, bg, shape):
    """pymatting's alpha (float64 H x W) at the image's own size."""
    if not (fg | bg).all():
        trimap = np.full(shape, 0.5)
        trimap[fg] = 1.0
        trimap[bg] = 0.0
        rgb = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        if method == "cf":  # its Laplacian kernel takes float64 only
            alpha = pymatting.estimate_alpha_cf(rgb.astype(np.float64), trimap)
        else:  # the neighbour search works in float32
            alpha = pymatting.estimate_alpha_knn(rgb, trimap)
        return np.asarray(alpha, dtype=np.float64)
    return fg.astype(np.float64)  # nothing unknown
