"""Nonlinear spectral fusion: M. Benning, M. Moeller, R. Z. Nossek, M. Burger,
D. Cremers, G. Gilboa, C.-B. Schoenlieb, "Nonlinear spectral image fusion", SSVM 2017,
LNCS 10302, 41-53.

The TV spectral decomposition (G. Gilboa, "A total variation spectral framework for
scale and texture analysis", SIAM J. Imaging Sci. 7(4), 2014) follows the TV flow
``u_t = -p, p in dTV(u), u(0) = f`` and calls ``phi(t) = t u_tt(t)`` the spectral
component at scale t; ``f = int_0^inf phi(t) dt + mean(f)``. Benning et al. fuse two
images by mixing their components band by band, with spatial masks.

Discretely the flow is run by implicit Euler steps, each a TV denoising (the prox of
``dt TV``), ``u_k = argmin_u dt_k TV(u) + ||u - u_{k-1}||^2 / 2`` at times
``t_k = t_{k-1} + dt_k``, solved by the package's primal-dual Huber-TV kernel with a
small Huber epsilon (``fastosmosis._driver.HuberProx``, docs/model.md 5.1). With the
velocities ``v_k = (u_{k-1} - u_k) / dt_k``, the bands and the residual are

    phi_k = t_k (v_k - v_{k+1}),  k = 1..K,     r = u_K + t_K v_{K+1},

(Gilboa's ``phi_k = k (u_{k-1} - 2 u_k + u_{k+1})`` and ``r = (K+1) u_K - K u_{K+1}``
when the steps are equal) and ``f = sum_k phi_k + r`` exactly, by Abel summation,
however accurately each step is solved.
"""

from __future__ import annotations

import numba
import numpy as np

from ._baseline_inputs import check_inputs
from ._driver import HuberProx
from ._threads import plan, run_channels
from .validation import check_number

__all__ = ["tv_flow", "tv_spectral", "spectral_fusion", "spectral_times"]

_EPSILON = 1e-3  # Huber epsilon: TV up to gradients of this size
_PD_TOL = 1e-4  # the prox's residual per pixel, as fuse's default
_PD_MAX_ITER = 5000
_MARGIN = 32  # pixels kept around alpha < 1 when the bands are computed on a box


def spectral_times(t_first=0.01, t_last=2.0, bands=10):
    """``bands + 1`` times ``t_1 .. t_{K+1}``, geometric from ``t_first`` to ``t_last``
    (then one more step of the same ratio): fine scales get fine steps."""
    check_number("t_first", t_first, positive=True)
    check_number("t_last", t_last, positive=True)
    check_number("bands", bands, positive=True, integer=True)
    if not t_last > t_first:
        raise ValueError(f"t_last: must exceed t_first ({t_first}), got {t_last}")
    times = np.geomspace(t_first, t_last, bands) if bands > 1 else np.array([t_first])
    ratio = times[-1] / times[-2] if bands > 1 else 2.0
    return np.append(times, times[-1] * ratio)


def _check_times(times):
    """``times`` as a float64 vector of at least two increasing positive times."""
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2 or not (times[0] > 0 and np.all(np.diff(times) > 0)):
        raise ValueError("times: need at least two increasing positive times")
    return times


def tv_flow(image, times, *, epsilon=_EPSILON, pd_tol=_PD_TOL):
    """The TV flow of a 2-D image at ``times`` by implicit Euler steps (module docstring).

    Returns
    -------
    numpy.ndarray
        float64 ``(len(times) + 1) x H x W``: ``u_0 = image``, then ``u_k`` at ``t_k``.
    """
    u = np.ascontiguousarray(image, dtype=np.float64)
    prox = HuberProx(u.shape, np.float64, eta=1.0, kappa=epsilon, pd_tol=pd_tol,
                     pd_max_iter=_PD_MAX_ITER, warm_start=True)
    flow = [u]
    t_prev = 0.0
    # no more threads than the image is worth (as fuse: a short pass is not worth
    # sharing, and on a busy machine each shared pass waits for its slowest thread)
    saved = numba.get_num_threads()
    numba.set_num_threads(plan(u.size, 1, saved, lambda n: True)[1])
    try:
        for t in times:
            x, _ = prox(flow[-1], float(t - t_prev))
            flow.append(x.copy())
            t_prev = t
    finally:
        numba.set_num_threads(saved)
    return np.stack(flow)


def tv_spectral(image, times, *, epsilon=_EPSILON, pd_tol=_PD_TOL):
    """The TV spectral decomposition of a 2-D image (Gilboa 2014; module docstring).

    Parameters
    ----------
    image : array_like, H x W
    times : sequence of float
        Increasing ``t_1 .. t_{K+1}`` (> 0); K bands come out.
    epsilon, pd_tol : float
        Huber epsilon and primal-dual tolerance of each TV step.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The bands ``phi_1 .. phi_K`` (K x H x W, fine to coarse) and the residual r,
        with ``image = bands.sum(axis=0) + r``.
    """
    times = _check_times(times)
    flow = tv_flow(image, times, epsilon=epsilon, pd_tol=pd_tol)
    steps = np.diff(np.concatenate([[0.0], times]))
    velocity = (flow[:-1] - flow[1:]) / steps[:, None, None]  # v_1 .. v_{K+1}
    bands = times[:-1, None, None] * (velocity[:-1] - velocity[1:])
    residual = flow[-2] + times[-2] * velocity[-1]
    return bands, residual


def spectral_fusion(foreground, background, alpha, *, times=None, band_weights=None,
                    epsilon=_EPSILON, pd_tol=_PD_TOL, margin=_MARGIN):
    """Nonlinear spectral fusion (Benning et al. 2017; see the module docstring).

    Both images are decomposed, channel by channel, into the TV bands at ``times``;
    where alpha < 1 the bands of b replace those of f in proportion ``1 - alpha``, each
    by its weight ``w_k``, and everything coarser than the last band (the residual:
    the colours and the large-scale shading) stays f's::

        u = f + (1 - alpha) sum_k w_k (phi_k(b) - phi_k(f)).

    Where it departs from Benning et al.: they pick the bands to swap by hand per image
    pair and register the faces first; the paper compares without the registration
    and so does this. Alpha plays the role of their spatial mask (the paper's
    comparison fuses b's face into f's where alpha = 0). The TV steps are Huber-TV
    with a small epsilon, solved to a tolerance, not exact TV. The bands are computed on
    the box around ``alpha < 1`` widened by ``margin`` pixels (outside it, u = f needs
    none): the flow there feels the box's border, at least ``margin`` pixels from
    where a band is used, which for the fine bands (scales of a few pixels) changes
    nothing visible and makes the method several times faster.

    Parameters
    ----------
    foreground, background, alpha : array_like
        As in :func:`fastosmosis.fuse`.
    times : sequence of float, optional
        ``t_1 .. t_{K+1}`` of the flow; default :func:`spectral_times` () (10 bands
        from t = 0.01 to 2, fine detail and texture up to a few pixels' scale).
    band_weights : sequence of float, optional
        ``w_k`` in [0, 1], one per band; default all 1 (every band from b).
    epsilon, pd_tol : float
        As in :func:`tv_spectral`.
    margin : int
        Pixels around ``alpha < 1`` that the bands are computed on; None: the whole
        image.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``f``; ``f`` where alpha = 1.
    """
    f, b, a, back = check_inputs(foreground, background, alpha)
    times = spectral_times() if times is None else _check_times(times)
    n_bands = times.size - 1
    w = np.ones(n_bands) if band_weights is None else np.asarray(band_weights, float)
    if w.shape != (n_bands,) or not np.all((w >= 0) & (w <= 1)):
        raise ValueError(f"band_weights: need {n_bands} values in [0, 1], one per band")
    check_number("epsilon", epsilon, positive=True)
    check_number("pd_tol", pd_tol, positive=True)
    if margin is not None:
        check_number("margin", margin, nonnegative=True, integer=True)
    u = f.copy()
    box = _box(a < 1, margin)
    if box is None:
        return back(u)
    channels = f.shape[2]

    def solve(k, _callback):  # flow k: channel k // 2 of f (k even) or of b (k odd)
        image = (f, b)[k % 2][box + (k // 2,)]
        return tv_spectral(image, times, epsilon=epsilon, pd_tol=pd_tol)[0]

    # the 2 C flows are independent: side by side, as fuse runs its channels
    pixels = u[box + (0,)].size
    threads = numba.get_num_threads()
    workers, per_worker = plan(pixels, 2 * channels, threads, lambda n: True)
    bands = run_channels(solve, 2 * channels, workers, per_worker, None)
    for c in range(channels):
        swap = np.tensordot(w, bands[2 * c + 1] - bands[2 * c], axes=1)
        u[box + (c,)] += (1.0 - a[box + (c,)]) * swap
    return back(u)


def _box(region, margin):
    """(rows, cols) slices of the box around ``region`` (H x W x C, any channel)
    widened by ``margin`` (None: the whole image); None if the region is empty."""
    hit = region.any(axis=2)
    if not hit.any():
        return None
    if margin is None:
        return (slice(None), slice(None))
    rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
    h, w = hit.shape
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, h)),
            slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, w)))
