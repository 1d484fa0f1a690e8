"""The solvers behind ``fuse``: their defaults per scheme, the kernels each needs, one
channel's solve, and the half-resolution start (``multiscale``)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import zoom

from . import _bcd, _driver
from ._bcd import solve_channel_bcd
from ._driver import gradient_norm, solve_channel
from .kernels.compile import precompile as compile_kernels
from .model import Model, SolverOptions, resolve_solver
from .validation import check_number, resolve_dtype

MIN_COARSE_SIDE = 8  # no half-resolution start below this many pixels a side


def half(x):
    """2 x 2 block means (a last odd row or column is dropped)."""
    x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
    return np.ascontiguousarray(0.25 * (x[::2, ::2] + x[1::2, ::2] + x[::2, 1::2]
                                        + x[1::2, 1::2]))


def kernels_for(model, options):
    """The kernels a channel's solve calls under ``model`` with ``options``."""
    prox = model.takes_prox(options.v_step)
    if options.solver == "bcd":
        return _bcd.kernels(prox=prox)
    # the exact scheme's multiscale start also measures the gradient (gradient_energy)
    return _driver.kernels(paper=options.scheme == "paper", prox=prox,
                           smooth=bool(model.smooth_kind(options.v_step)))


def precompile(*, scheme="exact", solver=None, v_step=None, eta=0.1,
               regularizer="huber-tv", dtype=np.float64, processes=None, announce=None,
               load=True):
    """Compile the kernels that :func:`fuse` calls with these options, once per install.

    The kernels are compiled for one float type at a time, the first time they are
    needed, and kept in Numba's on-disk cache; ``fuse`` calls this itself. A first run
    compiles those that are missing in ``processes`` processes side by side (default:
    the CPUs available, at most 4). ``announce(names)``, when given, is called first
    with the names of the kernels to be compiled, if there are any (the command line
    says there that this happens once). ``load=False`` only fills the cache, for other
    processes (a batch's workers): the kernels found there are not loaded into this one.
    Returns those names (empty: all were cached).
    """
    model = Model(eta=eta, regularizer=regularizer)
    solver, v_step = resolve_solver(scheme, solver, v_step)
    options = SolverOptions(scheme=scheme, solver=solver, v_step=v_step)
    if processes is not None:
        check_number("processes", processes, positive=True, integer=True)
    return compile_kernels(kernels_for(model, options), resolve_dtype(dtype),
                           processes=processes, announce=announce, load=load)


def solve(problem, model, options, **extra):
    """One channel, ``problem`` = (f, alpha, w, u0, v0), by the solver ``options`` names."""
    run = solve_channel_bcd if options.solver == "bcd" else solve_channel
    return run(*problem, model, options, **extra)


def coarse_start(problem, model, options):
    """Replace u0, v0 of ``problem`` by the upsampled half-resolution solution.

    Returns the gradient norm at the ordinary start, which the stationarity keeps as
    its reference (None for the paper scheme, which does not compute it).
    """
    f, a, w, u0, v0 = problem
    reference = gradient_norm(f, a, w, u0, v0, model) if options.scheme == "exact" else None
    if min(f.shape) < 2 * MIN_COARSE_SIDE:
        return reference
    coarse = solve([half(x) for x in problem], model, options)
    for fine, x in ((u0, coarse.u), (v0, coarse.v)):
        zoom(x, (fine.shape[0] / x.shape[0], fine.shape[1] / x.shape[1]), output=fine,
             order=1)
    return reference
