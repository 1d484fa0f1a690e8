"""Guided-filter fusion (GFF): S. Li, X. Kang, J. Hu, "Image fusion with guided
filtering", IEEE Trans. Image Process. 22(7), 2864-2875, 2013.

The paper's Section II, for N source images I_n (here N = 2: f and b):

1. two-scale decomposition: base ``B_n = I_n * Z`` (Z the 31 x 31 mean filter), detail
   ``D_n = I_n - B_n`` (its eq. 1-2);
2. saliency ``S_n = |I_n * L| * g_{r_g, sigma_g}`` (L the 3 x 3 Laplacian, g an
   11 x 11 Gaussian, r_g = sigma_g = 5; eq. 3) and the binary maps
   ``P_n = [S_n = max_k S_k]`` (eq. 4);
3. weights refined by the guided filter under the source image,
   ``W_n^B = G_{r1, eps1}(P_n, I_n)``, ``W_n^D = G_{r2, eps2}(P_n, I_n)``, normalised to
   sum to one at every pixel (eq. 5), with the paper's r1 = 45, eps1 = 0.3, r2 = 7,
   eps2 = 1e-6;
4. ``F = sum_n W_n^B B_n + W_n^D D_n`` (eq. 6-7).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._baseline_inputs import ALPHA_USES, check_inputs
from .filters import box_mean, guided_filter
from .validation import check_choice, check_number

__all__ = ["guided_fusion", "guided_fusion_weights"]

_BASE_RADIUS = 15  # Z: 31 x 31 mean filter
_LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
_SALIENCY_SIGMA = 5.0  # g: sigma_g = 5 on an 11 x 11 support (r_g = 5)


def _grey(x):
    """H x W x C -> H x W: the mean of the channels (the saliency is computed on it)."""
    return x.mean(axis=2)


def _saliency(grey):
    """``|grey * L| * g``, eq. 3 of Li et al. (borders replicated)."""
    high = np.abs(ndimage.convolve(grey, _LAPLACIAN, mode="nearest"))
    return ndimage.gaussian_filter(high, _SALIENCY_SIGMA, mode="nearest", truncate=1.0)


def _guide(x):
    """The guide image of the guided filter: colour (He et al.'s Eq. 19-20) for RGB,
    grey otherwise."""
    return x if x.shape[2] == 3 else _grey(x)


def guided_fusion_weights(f, b, *, r1=45, eps1=0.3, r2=7, eps2=1e-6):
    """The base and detail weight maps of f (float64 H x W x C in [0, 1]), eq. 3-5 of
    Li et al.; those of b are one minus them.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``W_f^B`` and ``W_f^D``, H x W, each in a pair that sums to one with b's.
    """
    sf, sb = _saliency(_grey(f)), _saliency(_grey(b))
    pf = (sf >= sb).astype(np.float64)  # a tie goes to the first image, f
    weights = []
    for radius, eps in ((r1, eps1), (r2, eps2)):
        wf = guided_filter(_guide(f), pf, radius, eps)
        wb = guided_filter(_guide(b), 1.0 - pf, radius, eps)
        # the guided filter can overshoot [0, 1]; clip before normalising, as the
        # weights of a convex combination
        wf, wb = np.clip(wf, 0.0, None), np.clip(wb, 0.0, None)
        total = wf + wb
        weights.append(np.where(total > 0, wf / np.where(total > 0, total, 1.0), 0.5))
    return weights[0], weights[1]


def guided_fusion(foreground, background, alpha, *, alpha_use="ignore", r1=45, eps1=0.3,
                  r2=7, eps2=1e-6):
    """Guided-filter fusion of f and b (Li, Kang, Hu 2013; see the module docstring).

    ``F = W^B B_f + (1 - W^B) B_b + W^D D_f + (1 - W^D) D_b`` with the two-scale
    decomposition and the guided-filter-refined saliency weights of Li et al.

    Where it departs from Li et al.: the saliency is computed on the mean of the
    channels, and a tie of saliency gives the pixel to f (not half to each); the
    guided filter's windows are cut at the border (box means divide by
    the pixels they hold) and the base layer's 31 x 31 mean too; weights are clipped at
    0 before they are normalised (the guided filter can overshoot).

    Parameters
    ----------
    foreground, background : array_like, H x W or H x W x C
        f and b, as in :func:`fastosmosis.fuse`.
    alpha : array_like, H x W or H x W x C
        Li et al. fuse two images without a mask. ``alpha_use="ignore"`` (default)
        fuses the whole images as their method does, and alpha is only checked;
        ``"blend"`` returns ``alpha f + (1 - alpha) F``.
    alpha_use : {"ignore", "blend"}
    r1, eps1, r2, eps2 : float
        The guided filters of the base and detail weights (the paper's values).

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``f``.
    """
    check_choice("alpha_use", alpha_use, ALPHA_USES)
    for name, value in (("r1", r1), ("r2", r2)):
        check_number(name, value, nonnegative=True, integer=True)
    for name, value in (("eps1", eps1), ("eps2", eps2)):
        check_number(name, value, positive=True)
    f, b, a, back = check_inputs(foreground, background, alpha)
    wb, wd = guided_fusion_weights(f, b, r1=r1, eps1=eps1, r2=r2, eps2=eps2)
    base_f, base_b = box_mean(f, _BASE_RADIUS), box_mean(b, _BASE_RADIUS)
    wb, wd = wb[..., None], wd[..., None]
    fused = wb * base_f + (1 - wb) * base_b + wd * (f - base_f) + (1 - wd) * (b - base_b)
    if alpha_use == "blend":
        fused = a * f + (1 - a) * fused
    return back(fused)
