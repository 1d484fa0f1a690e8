"""Edge-aware filtering: box means and the guided filter of He, Sun and Tang.

K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 / IEEE TPAMI 35(6), 2013.
In every (2r+1) x (2r+1) window w_k the output is a linear function of the guide,
``q_i = a_k . I_i + b_k``, fitted to the input p by ridge regression with weight eps
(Eq. 5-6 of the paper for a grey guide, Eq. 19-20 for a colour guide); each pixel's
output averages the coefficients of the windows that hold it (Eq. 8). Windows are cut
at the border: a box mean divides by the number of pixels the window holds there.

K. He, J. Sun, "Fast Guided Filter", arXiv:1505.00996, 2015: the coefficients (a, b) are
fitted on a subsampled guide and input, their box means enlarged bilinearly and applied to
the full-resolution guide, ``q = mean(a)_up . I + mean(b)_up`` (:func:`guided_upsample`).

Used by the matting (to bring an alpha map computed at a reduced size back to full
resolution, guided by the full image) and by guided-filter fusion.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._area import resize

__all__ = ["BAND_PIXELS", "box_mean", "guided_coefficients", "guided_filter",
           "guided_upsample"]

BAND_PIXELS = 2_000_000  # full-resolution pixels guided_upsample works on at once


def _counts(n, radius):
    """How many of 0..n-1 lie within ``radius`` of each index."""
    i = np.arange(n)
    return (np.minimum(i + radius, n - 1) - np.maximum(i - radius, 0) + 1).astype(np.float64)


def box_mean(x, radius):
    """Mean of ``x`` over the (2r+1) x (2r+1) window around each pixel, cut at the border.

    ``x`` is H x W or H x W x C (each channel on its own); the result is float64.
    """
    x = np.asarray(x, dtype=np.float64)
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return x.copy()
    size = (2 * radius + 1, 2 * radius + 1) + (1,) * (x.ndim - 2)
    total = ndimage.uniform_filter(x, size=size, mode="constant") * float(np.prod(size[:2]))
    count = np.outer(_counts(x.shape[0], radius), _counts(x.shape[1], radius))
    if x.ndim == 3:
        count = count[:, :, None]
    return total / count


def guided_coefficients(guide, src, radius, eps):
    """The linear coefficients ``(a, b)`` of the guided filter, one pair per window.

    In the window w_k of radius ``radius`` around pixel k, ``a_k . I + b_k`` is the ridge
    regression of ``src`` on ``guide`` (He, Sun, Tang 2013, Eq. 5-6 for a grey guide,
    Eq. 19-20 for a colour guide, where ``a_k = (Sigma_k + eps U)^-1 cov_k(I, p)``).

    Parameters
    ----------
    guide : array, H x W (grey) or H x W x 3 (colour)
    src : array, H x W
    radius : int >= 0, the window is (2 radius + 1) pixels wide, cut at the border
    eps : float > 0, the ridge weight

    Returns
    -------
    a : numpy.ndarray, float64, H x W (grey guide) or H x W x 3 (colour guide)
    b : numpy.ndarray, float64, H x W
    """
    guide, src = _checked(guide, src, eps)
    if src.ndim != 2:
        raise ValueError(f"src: expected H x W, got shape {src.shape}")
    if guide.ndim == 2:
        mean_i, mean_p = box_mean(guide, radius), box_mean(src, radius)
        var_i = box_mean(guide * guide, radius) - mean_i * mean_i
        cov_ip = box_mean(guide * src, radius) - mean_i * mean_p
        a = cov_ip / (var_i + eps)
        return a, mean_p - a * mean_i
    return _colour_coefficients(guide, src, radius, eps)


def guided_filter(guide, src, radius, eps):
    """The guided filter output of ``src`` under ``guide`` (He, Sun, Tang 2013, Eq. 8):
    ``q_i = mean(a)_i . I_i + mean(b)_i``, the box means of :func:`guided_coefficients`.

    Parameters
    ----------
    guide : array, H x W (grey) or H x W x 3 (colour guide, He et al. Eq. 19-20)
    src : array, H x W or H x W x C; each channel is filtered under the same guide
    radius : int, the window is (2 radius + 1) pixels wide
    eps : float > 0, the ridge weight (larger: smoother, less edge-aware)

    Returns float64 of ``src``'s shape.
    """
    guide, src = _checked(guide, src, eps)
    if src.ndim == 3:
        return np.stack([guided_filter(guide, src[:, :, c], radius, eps)
                         for c in range(src.shape[2])], axis=2)
    a, b = guided_coefficients(guide, src, radius, eps)
    return _apply(box_mean(a, radius), box_mean(b, radius), guide)


def guided_upsample(src_low, guide_low, guide, radius, eps):
    """The fast guided filter (He, Sun 2015) of a low-resolution ``src_low``: its
    coefficients fitted under ``guide_low``, box-averaged there, enlarged bilinearly to
    ``guide``'s size and applied to ``guide``: ``q = mean(a)_up . I + mean(b)_up``.

    Parameters
    ----------
    src_low : array, h x w
    guide_low : array, h x w or h x w x 3, the guide at ``src_low``'s size (e.g. the
        full guide area-averaged)
    guide : array, H x W or H x W x 3 (as many channels as ``guide_low``)
    radius : int >= 0, window radius in low-resolution pixels (for both the fit and the
        box mean of the coefficients)
    eps : float > 0, the ridge weight

    Returns
    -------
    numpy.ndarray, float64, H x W (not clipped). With ``guide_low`` = ``guide`` it is
    :func:`guided_filter`. The enlarging and the application run in bands of rows of
    about :data:`BAND_PIXELS` pixels, so the memory beyond the output and the guide is
    that of one band.
    """
    guide_low, src_low = _checked(guide_low, src_low, eps)
    guide = np.asarray(guide)
    if guide.ndim == 3 and guide.shape[2] == 1:
        guide = guide[:, :, 0]
    if guide.ndim < 2 or guide.shape[2:] != guide_low.shape[2:]:
        raise ValueError(f"guide: shape {guide.shape} does not match the low-resolution "
                         f"guide's {guide_low.shape}")
    a, b = guided_coefficients(guide_low, src_low, radius, eps)
    coef = np.concatenate([box_mean(a, radius).reshape(a.shape[:2] + (-1,)),
                           box_mean(b, radius)[:, :, None]], axis=2)
    height, width = guide.shape[:2]
    out = np.empty((height, width))
    band = max(1, BAND_PIXELS // width)
    for r0 in range(0, height, band):
        rows = slice(r0, min(height, r0 + band))
        up = resize(coef, (height, width), "linear", rows=rows)
        out[rows] = _apply(up[:, :, :-1].reshape(up.shape[:2] + a.shape[2:]), up[:, :, -1],
                           guide[rows])
    return out


def _checked(guide, src, eps):
    """``guide`` (H x W or H x W x 3) and ``src`` as float64, their shapes and eps checked."""
    guide = np.asarray(guide, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    if guide.ndim == 3 and guide.shape[2] == 1:
        guide = guide[:, :, 0]
    if guide.ndim not in (2, 3) or (guide.ndim == 3 and guide.shape[2] != 3):
        raise ValueError(f"guide: expected H x W or H x W x 3, got shape {guide.shape}")
    if src.shape[:2] != guide.shape[:2] or src.ndim not in (2, 3):
        raise ValueError(f"src: shape {src.shape} does not fit the guide's {guide.shape[:2]}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return guide, src


def _apply(a, b, guide):
    """``a . I + b`` per pixel (a: H x W or H x W x 3 like the guide)."""
    if a.ndim == 2:
        return a * guide + b
    return np.einsum("ijc,ijc->ij", a, guide) + b


def _colour_coefficients(guide, src, radius, eps):
    """He et al. Eq. 19-20: a 3-vector a_k per window from (Sigma_k + eps U)^-1 cov_k."""
    mean_i = box_mean(guide, radius)  # H x W x 3
    mean_p = box_mean(src, radius)
    cov_ip = box_mean(guide * src[:, :, None], radius) - mean_i * mean_p[:, :, None]
    # Sigma + eps U, its six distinct entries
    s = {}
    for j in range(3):
        for k in range(j, 3):
            s[j, k] = box_mean(guide[:, :, j] * guide[:, :, k], radius) \
                - mean_i[:, :, j] * mean_i[:, :, k] + (eps if j == k else 0.0)
    # the inverse by its adjugate: a = adj(S) cov / det(S)
    c00 = s[1, 1] * s[2, 2] - s[1, 2] * s[1, 2]
    c01 = s[0, 2] * s[1, 2] - s[0, 1] * s[2, 2]
    c02 = s[0, 1] * s[1, 2] - s[0, 2] * s[1, 1]
    c11 = s[0, 0] * s[2, 2] - s[0, 2] * s[0, 2]
    c12 = s[0, 2] * s[0, 1] - s[0, 0] * s[1, 2]
    c22 = s[0, 0] * s[1, 1] - s[0, 1] * s[0, 1]
    det = s[0, 0] * c00 + s[0, 1] * c01 + s[0, 2] * c02
    a = np.empty_like(cov_ip)
    a[:, :, 0] = (c00 * cov_ip[:, :, 0] + c01 * cov_ip[:, :, 1] + c02 * cov_ip[:, :, 2]) / det
    a[:, :, 1] = (c01 * cov_ip[:, :, 0] + c11 * cov_ip[:, :, 1] + c12 * cov_ip[:, :, 2]) / det
    a[:, :, 2] = (c02 * cov_ip[:, :, 0] + c12 * cov_ip[:, :, 1] + c22 * cov_ip[:, :, 2]) / det
    return a, mean_p - np.einsum("ijc,ijc->ij", a, mean_i)
