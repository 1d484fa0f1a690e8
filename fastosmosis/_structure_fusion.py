"""Structure-aware image fusion (SAF): W. Li, Y. Xie, H. Zhou, Y. Han, K. Zhan,
"Structure-aware image fusion", Optik 172, 1-11, 2018.

The method, as its authors' code runs it (r = 3, lambda = 0.01, three refinements):

1. structure-preserving smoothing of each source G: in every (2r+1)^2 window w_k,
   ``G_s = mean_k + a_k (G - mean_k)`` with ``a_k = var_k / (var_k + lambda)`` (the
   guided filter of G under itself, without the second averaging of a and b);
2. salient structure ``M = |G_s * [1, -1]| + |G_s * [1, -1]^T|``;
3. decision map ``I = [box_mean(M_f - M_b) > 0]`` (1: f has more structure there);
4. three times: ``I = RF([I > 0.5], sigma_s = 10, sigma_r = 0.2)``, the recursive
   domain-transform filter (E. Gastal, M. Oliveira, "Domain transform for
   edge-aware image and video processing", ACM TOG 30(4), 2011) guided by f, which
   recovers f's small-scale edges around the map's large-scale structure;
5. ``F = I f + (1 - I) b``.
"""

from __future__ import annotations

import numpy as np

from ._baseline_inputs import ALPHA_USES, check_inputs
from .filters import box_mean
from .validation import check_choice

__all__ = ["structure_aware", "structure_aware_weights", "domain_transform_rf"]

_RADIUS = 3
_LAMBDA = 0.01
_REFINE = 3
_SIGMA_S = 10.0
_SIGMA_R = 0.2


def _smooth(g, radius, lam):
    """Step 1: ``mean + var / (var + lambda) (g - mean)`` over (2r+1)^2 windows."""
    mean = box_mean(g, radius)
    var = box_mean(g * g, radius) - mean * mean
    return mean + var / (var + lam) * (g - mean)


def _structure(g):
    """Step 2: ``|g * [1, -1]| + |g * [1, -1]^T|`` (MATLAB's conv2 'same': the
    difference with the next pixel, 0 past the last one)."""
    dx = np.abs(g - np.pad(g[:, 1:], ((0, 0), (0, 1))))
    dy = np.abs(g - np.pad(g[1:, :], ((0, 1), (0, 0))))
    return dx + dy


def _recursive_pass(x, v):
    """One left-to-right then right-to-left pass of the recursive filter along axis 1:
    ``x_i += v_i (x_{i-1} - x_i)``, then ``x_i += v_{i+1} (x_{i+1} - x_i)``."""
    for i in range(1, x.shape[1]):
        x[:, i] += v[:, i] * (x[:, i - 1] - x[:, i])
    for i in range(x.shape[1] - 2, -1, -1):
        x[:, i] += v[:, i + 1] * (x[:, i + 1] - x[:, i])


def domain_transform_rf(image, joint, sigma_s, sigma_r, iterations=1):
    """Gastal and Oliveira's recursive edge-aware filter (their eq. 14 and Appendix).

    The domain transform's derivatives ``1 + sigma_s / sigma_r sum_c |d joint_c|``
    along rows and columns give each neighbour the feedback ``a^d`` with
    ``a = exp(-sqrt(2) / sigma_i)``, ``sigma_i = sigma_s sqrt(3) 2^(N-i) / sqrt(4^N - 1)``
    at iteration i of N; each iteration filters the rows, then the columns.

    Parameters
    ----------
    image : array, H x W
    joint : array, H x W x C, the image whose edges are kept
    sigma_s, sigma_r : float, spatial and range standard deviations
    iterations : int

    Returns float64 H x W.
    """
    out = np.array(image, dtype=np.float64)
    dx = np.zeros(out.shape)
    dy = np.zeros(out.shape)
    dx[:, 1:] = np.abs(np.diff(joint, axis=1)).sum(axis=2)
    dy[1:, :] = np.abs(np.diff(joint, axis=0)).sum(axis=2)
    dh = 1.0 + sigma_s / sigma_r * dx
    dv = (1.0 + sigma_s / sigma_r * dy).T
    n = iterations
    for i in range(n):
        sigma = sigma_s * np.sqrt(3.0) * 2.0 ** (n - (i + 1)) / np.sqrt(4.0**n - 1.0)
        a = np.exp(-np.sqrt(2.0) / sigma)
        _recursive_pass(out, a**dh)
        t = np.ascontiguousarray(out.T)
        _recursive_pass(t, a**dv)
        out = np.ascontiguousarray(t.T)
    return out


def structure_aware_weights(f, b):
    """The weight I of f (float64 H x W x C, in [0, 1]) in ``F = I f + (1 - I) b``:
    steps 1-4 of the module docstring, on the mean of the channels; b's is 1 - I."""
    gf, gb = f.mean(axis=2), b.mean(axis=2)
    mf = _structure(_smooth(gf, _RADIUS, _LAMBDA))
    mb = _structure(_smooth(gb, _RADIUS, _LAMBDA))
    weight = (box_mean(mf - mb, _RADIUS) > 0).astype(np.float64)
    for _ in range(_REFINE):
        weight = domain_transform_rf((weight > 0.5).astype(np.float64), f, _SIGMA_S,
                                     _SIGMA_R)
    return weight


def structure_aware(foreground, background, alpha, *, alpha_use="ignore"):
    """Structure-aware fusion of f and b (Li, Xie, Zhou, Han, Zhan 2018; see the module
    docstring): ``F = I f + (1 - I) b`` with I f's structure-aware weight.

    Where it departs from Li et al.: their method and code fuse two grey images; here
    the weight map is computed on the mean of the channels, the recursive filter is
    guided by all channels of f (Gastal and Oliveira sum the channels' differences),
    and the one map weighs every channel. The box means are cut at the border.

    Parameters
    ----------
    foreground, background : array_like, H x W or H x W x C
        f and b, as in :func:`fastosmosis.fuse`.
    alpha : array_like, H x W or H x W x C
        The method fuses two images without a mask: ``alpha_use="ignore"`` (default)
        fuses the whole images and only checks alpha; ``"blend"`` returns
        ``alpha f + (1 - alpha) F``.
    alpha_use : {"ignore", "blend"}

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``f``.
    """
    check_choice("alpha_use", alpha_use, ALPHA_USES)
    f, b, a, back = check_inputs(foreground, background, alpha)
    weight = structure_aware_weights(f, b)[..., None]
    fused = weight * f + (1.0 - weight) * b
    if alpha_use == "blend":
        fused = a * f + (1 - a) * fused
    return back(fused)
