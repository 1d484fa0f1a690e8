"""Public API: ``fuse`` and ``energy``.

Checks the inputs and parameters (``validation``, ``model``), prepares each channel
(offset, alpha blur, target w, initialisation: docs/model.md 1, ``_problem``) and hands
it to the solver that the options name (``_solvers``), channels side by side where they
fit (``_threads``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numba
import numpy as np

from . import _threads
from . import kernels as K
from ._memory import check_memory, fits
from ._problem import channel_problem, check_init
from ._solvers import (
    coarse_start,
    kernels_for,
    solve,
)
from .kernels.compile import precompile as compile_kernels
from .model import Model, SolverOptions
from .validation import (
    DTYPES,  # noqa: F401  (the working precisions, with the other choices here)
    channels_last,
    check_channel_axis,
    check_choice,
    check_number,
    prepare,
    working_dtype,
)

INITS = ("foreground", "blend", "mean")


@dataclass
class FusionResult:
    """Result of :func:`fuse`.

    Attributes
    ----------
    u, v : ndarray
        The fused image and the drift image, shape of the foreground, offset removed,
        not clipped, in the working dtype (v is None with ``return_v=False``).
    energies : list of ndarray
        Per channel, the energy E after each iteration.
    iterations : list of int
        Per channel, the iterations run (outer iterations of solver "bcd").
    pd_iterations : list of ndarray
        Per channel, the primal-dual iterations of each iteration, backtracking retries
        included (0 where the v-step is explicit).
    linear_iterations : list of ndarray
        Per channel, the conjugate-gradient iterations of each iteration's u-solve
        (solver "bcd"; empty for "ipiano").
    pd_accepted : list of ndarray
        Per channel, the primal-dual iterations of the call whose v-step was accepted
        (the column of the authors' published log).
    stationarity : list of ndarray
        Per channel, after each iteration, the norm of the exact energy's gradient over
        the same at the start (NaN for the paper scheme).
    stop_reasons : list of str
        Per channel: "stationarity" (``gtol``), "tolerance", "max_iter", "callback",
        "zero energy", "backtracking failed" or "rounding floor" (solver "bcd": the
        iterate stopped improving before ``gtol``, at the limit of the working precision).
    seconds : float
        Wall time of the whole call.
    channel_seconds : list of float
        Wall time of each channel.
    parameters : dict
        Every model and solver parameter used (defaults resolved), the regulariser
        among them.
    """

    u: np.ndarray
    v: np.ndarray
    energies: list = field(default_factory=list)
    iterations: list = field(default_factory=list)
    pd_iterations: list = field(default_factory=list)
    linear_iterations: list = field(default_factory=list)
    pd_accepted: list = field(default_factory=list)
    stationarity: list = field(default_factory=list)
    stop_reasons: list = field(default_factory=list)
    seconds: float = 0.0
    channel_seconds: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)

    @property
    def final_energy(self) -> float:
        """Sum over the channels of the last energy recorded; a channel that stopped
        before its first iteration records none and adds nothing (its E(u0, v0) is
        ``fastosmosis.energy`` of the result)."""
        return float(sum(e[-1] for e in self.energies if len(e)))


def _check_preparation(offset, alpha_blur):
    """The set-up's own parameters (the model's are :class:`Model`'s)."""
    check_number("offset", offset, positive=True)
    if alpha_blur is not None:
        check_number("alpha_blur", alpha_blur, positive=True)


def _thread_count(threads):
    """The threads a call may use: ``threads`` (checked), or all of Numba's."""
    if threads is None:
        return numba.get_num_threads()
    check_number("threads", threads, positive=True, integer=True)
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads: at most {numba.config.NUMBA_NUM_THREADS} "
                         f"available, got {threads}")
    return int(threads)


def fuse(foreground, background, alpha, *, eta=0.1, mu=100.0, gamma=1.0, epsilon=0.05,
         osm=1.0, init="foreground", alpha_blur=None, scheme="exact", solver=None,
         gtol=None, tol=None, max_iter=10000, pd_tol=1e-4, pd_max_iter=10000,
         warm_start=None, offset=1.0, dtype=None, threads=None, callback=None,
         regularizer="huber-tv", v_step=None, pd_tol_rel=None,
         multiscale=False, return_v=True, channel_axis=-1) -> FusionResult:
    r"""Fuse a foreground and a background under an alpha map by variational osmosis.

    Minimises, per channel, the joint energy of Parisotto et al. (IEEE TIP 2020)

    .. math::

        E(u, v) = \sum \tfrac{osm}{2} v |\nabla(u/v)|^2 + \tfrac{\mu}{2}(v - w)^2
                  + \tfrac{\gamma}{2}\alpha (u - f)^2 + \eta H_\epsilon(|\nabla v|),
        \qquad w = f^\alpha b^{1-\alpha},

    by default to its minimiser (solver "bcd": block coordinate descent, the u-block
    solved exactly by multigrid-preconditioned conjugate gradients, v by backtracked
    descent steps), or by the paper's block iPiano with backtracking (solver "ipiano").

    Parameters
    ----------
    foreground, background : array_like, H x W or H x W x C
        uint8, uint16 or float images in [0, 1], the same shape.
    alpha : array_like, H x W or H x W x C
        Where the result follows the foreground (1) or the background (0), in [0, 1];
        an H x W map applies to every channel. Integer maps are divided by their
        type's maximum.
    eta, mu, gamma, epsilon, osm : float
        Weights of the Huber-TV regulariser (0: none), of the fidelity of v to w, of the
        fidelity of u to f where alpha > 0, the Huber parameter, the osmosis weight.
    init : {"foreground", "blend", "mean"}
        Initial u (v starts at w).
    alpha_blur : float or None
        If set, alpha is replaced by ``gaussian_filter((alpha == 1), alpha_blur)``.
    scheme : {"exact", "paper"}
        "exact": exact gradients and proxes of the discrete energy; with solver "bcd"
        every accepted step decreases the energy reported (iPiano's inertia decreases
        E + delta |x - x_prev|^2, so E can rise between its iterations, never above
        the start). "paper": the authors' reference
        discretisation and algorithm, which reproduces their published run but whose
        v-gradient is not the gradient of the energy (solver "ipiano" only).
    solver : {"bcd", "ipiano"} or None
        "bcd" (the default for the exact scheme): alternate the exact minimiser of the
        u-block, a linear system solved by conjugate gradients preconditioned by a
        multigrid V-cycle, with backtracked descent steps in v, until the stationarity
        reaches ``gtol``; a handful of outer iterations, whatever the image size.
        "ipiano" (the paper scheme's, and its only one): block iPiano with backtracking
        and the relative-energy stopping rule of the paper, which stops far from the
        minimiser where alpha = 0 (the smooth part of u there converges slowly).
    gtol : float or None
        Stop a channel when its stationarity, the norm of the energy's gradient at the
        iterate over the same at the start, falls to ``gtol``. None: 1e-7 for solver
        "bcd", where different solver settings then land within 50 dB of each other;
        no such test for "ipiano" (exact scheme only: the paper scheme does not compute
        the energy's gradient).
    tol : float or None
        Also stop when the relative energy change falls below ``tol`` (from iteration
        5 on for "ipiano"). None: 1e-6 for "ipiano", the paper's rule; no such test for
        "bcd".
    max_iter : int
        Iterations at most (outer iterations for "bcd").
    pd_tol, pd_max_iter : float, int
        Tolerance and iteration cap of the primal-dual loop.
    warm_start : bool or None
        Start each primal-dual call from the previous call's dual (None: the scheme's
        default, on for "exact", off for "paper").
    offset : float
        Added to f and b for positivity, removed from the result.
    dtype : float64, float32 or None
        Working precision and the result's type (None: float32 when the foreground and
        the background are float32, float64 otherwise, as in scikit-image); the energy
        and its sums are accumulated in float64 either way. In float32 the primal-dual
        loop also stops at its rounding floor (one ulp of the largest input value over
        its step size), where float64 goes on to ``pd_tol``.
    threads : int or None
        Threads for this call (None: all of Numba's, ``NUMBA_NUM_THREADS``). A channel
        gets one thread per 250 000 pixels (at most ``threads``); the threads left over
        solve other channels of a colour image side by side, as many as the memory
        allows (``parameters["workers"]``). The result does not depend on it, bit for
        bit.
    callback : callable or None
        ``callback(channel, iteration, energy)`` after every outer iteration; returning
        False stops that channel. Where channels are solved side by side it is called
        from their threads, one call at a time.
    regularizer : {"huber-tv", "tikhonov"}
        R(v) = H_eps(|grad v|) through the primal-dual prox, or |grad v|^2 / 2, smooth,
        taken in the explicit v-step with no primal-dual loop (paper IV.3).
    v_step : {"prox", "explicit"} or None
        How the v-block takes the Huber-TV term: by its prox (the primal-dual loop), or
        in the explicit gradient step, since E is C^1: no inner loop, several times
        faster where mu dominates the step size (mu >> eta / epsilon), to the same
        stationarity. None: "explicit" for solver "bcd", "prox" for "ipiano".
    pd_tol_rel : float or None
        Tie the primal-dual tolerance to the outer progress: iteration n stops the prox
        at ``max(pd_tol, pd_tol_rel * s)``, s the stationarity after iteration n - 1 (1
        at the start), so early prox calls are loose and the last ones as tight as
        ``pd_tol`` (exact scheme and solver "ipiano" only; no effect with an explicit
        v-step).
    multiscale : bool
        Start each channel from its solution at half resolution (2 x 2 means of f,
        alpha, w; same parameters and stopping rule; u, v upsampled linearly). The
        energies and iterations reported are the full-resolution ones; the stationarity
        stays relative to the ordinary start (u0, v0).
    return_v : bool
        Also return the drift image v (False: ``result.v`` is None, which saves an image
        of the working dtype per channel: what a 100-megapixel scan needs to fit).
    channel_axis : int
        The axis of a 3-D image's channels (default -1: H x W x C); u and v come back
        with the channels on the same axis. A 2-D image is grey whatever it says.

    Returns
    -------
    FusionResult
    """
    start = time.perf_counter()
    model = Model(eta=eta, mu=mu, gamma=gamma, epsilon=epsilon, osm=osm,
                  regularizer=regularizer)
    _check_preparation(offset, alpha_blur)
    check_choice("init", init, INITS)
    options = SolverOptions.resolve(
        scheme=scheme, solver=solver, v_step=v_step, gtol=gtol, tol=tol, max_iter=max_iter,
        pd_tol=pd_tol, pd_max_iter=pd_max_iter, warm_start=warm_start, pd_tol_rel=pd_tol_rel)
    for name, value in (("multiscale", multiscale), ("return_v", return_v)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name}: expected True or False, got {value!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable, got {callback!r}")
    check_channel_axis(channel_axis)
    foreground, background, alpha = (channels_last(x, channel_axis)
                                     for x in (foreground, background, alpha))
    dt = working_dtype(dtype, foreground, background)
    n_threads = _thread_count(threads)
    fi, bi, ai, shape = prepare(foreground, background, alpha)
    check_init(init, ai, alpha_blur, fi.channels)
    prox = model.takes_prox(options.v_step)
    check_memory(shape, dt, options.solver, prox, return_v)

    compile_kernels(kernels_for(model, options), dt)
    parameters = dict(model.asdict(), **options.asdict(), init=init, alpha_blur=alpha_blur,
                      offset=offset, dtype=np.dtype(dt).name, threads=threads,
                      multiscale=bool(multiscale))
    result = FusionResult(u=np.empty(shape, dt), v=np.empty(shape, dt) if return_v else None,
                          parameters=parameters)
    u_out = result.u[..., None] if result.u.ndim == 2 else result.u
    v_out = None if result.v is None else result.v.reshape(shape[:2] + (-1,))

    def solve_one(c, cb):
        """Channel c into u_out, v_out; its solution without the images."""
        problem = channel_problem(fi, bi, ai, c, init=init, offset=offset,
                                   alpha_blur=alpha_blur, dtype=dt)
        gnorm_ref = coarse_start(problem, model, options) if multiscale else None
        sol = solve(problem, model, options, gnorm_ref=gnorm_ref, channel=c, callback=cb)
        del problem
        np.subtract(sol.u, dt(offset), out=u_out[..., c])  # no temporary channel
        if v_out is not None:
            np.subtract(sol.v, dt(offset), out=v_out[..., c])
        # its u and v: two images that the next channel's problem can reuse
        return dataclasses.replace(sol, u=None, v=None)

    workers, per_worker = _threads.plan(
        shape[0] * shape[1], fi.channels, n_threads,
        lambda k: fits(shape, dt, options.solver, prox, return_v, k))
    for sol in _threads.run_channels(solve_one, fi.channels, workers, per_worker, callback):
        result.energies.append(sol.energies)
        result.iterations.append(sol.iterations)
        result.pd_iterations.append(sol.pd_iterations)
        result.linear_iterations.append(sol.linear_iterations)
        result.pd_accepted.append(sol.pd_accepted)
        result.stationarity.append(sol.stationarity)
        result.stop_reasons.append(sol.stop_reason)
        result.channel_seconds.append(sol.seconds)
    result.parameters["workers"] = workers
    if channel_axis not in (-1, 2) and result.u.ndim == 3:
        result.u = np.moveaxis(result.u, -1, channel_axis)
        if result.v is not None:
            result.v = np.moveaxis(result.v, -1, channel_axis)
    result.parameters["channel_axis"] = channel_axis
    result.seconds = time.perf_counter() - start
    return result


def energy(u, v, foreground, background, alpha, *, eta=0.1, mu=100.0, gamma=1.0,
           epsilon=0.05, osm=1.0, alpha_blur=None, offset=1.0, dtype=None,
           regularizer="huber-tv", channel_axis=-1):
    """Energy E(u, v) of docs/model.md 3 per channel, for u, v given with the offset removed.

    Parameters are those of :func:`fuse` (the same model). Returns a float64 array with
    one energy per channel.
    """
    model = Model(eta=eta, mu=mu, gamma=gamma, epsilon=epsilon, osm=osm,
                  regularizer=regularizer)
    _check_preparation(offset, alpha_blur)
    check_channel_axis(channel_axis)
    u, v, foreground, background, alpha = (channels_last(x, channel_axis)
                                           for x in (u, v, foreground, background, alpha))
    dt = working_dtype(dtype, foreground, background)
    fi, bi, ai, shape = prepare(foreground, background, alpha)
    out = []
    for name, x in (("u", u), ("v", v)):
        x = np.asarray(x, dtype=np.float64)
        if x.shape != shape:
            raise ValueError(f"{name}: shape {x.shape} differs from the foreground's {shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name}: contains NaN or infinite values")
        out.append(x[None] if x.ndim == 2 else np.moveaxis(x, 2, 0))
    us, vs = out
    if np.any(vs + offset <= 0):
        raise ValueError("v: v + offset must be positive everywhere")
    energies = np.empty(fi.channels)
    partial = np.empty((shape[0], 4))
    for c in range(fi.channels):
        f, a, w, _, _ = channel_problem(fi, bi, ai, c, init="foreground",
                                            offset=offset, alpha_blur=alpha_blur, dtype=dt)
        uc = np.ascontiguousarray(us[c] + offset, dtype=dt)
        vc = np.ascontiguousarray(vs[c] + offset, dtype=dt)
        t = K.energy_terms(uc, vc, w, f, a, model.osm, model.mu, model.gamma, model.epsilon,
                           model.kind, partial)
        energies[c] = t[0] + t[1] + t[2] + model.eta * t[3]
    return energies
