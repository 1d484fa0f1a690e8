"""The solvers behind ``fuse``: their defaults per scheme, the kernels each needs, one
channel's solve, and the half-resolution start (``multiscale``)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import zoom

from . import _bcd, _driver
from ._bcd import solve_channel_bcd
from ._driver import REGULARIZERS, SCHEMES, V_STEPS, gradient_norm, solve_channel
from .kernels.compile import precompile as compile_kernels
from .validation import check_choice, check_number, resolve_dtype

SOLVERS = ("bcd", "ipiano")
IPIANO_TOL = 1e-6  # the iPiano solver's default stopping rule, the paper's

MIN_COARSE_SIDE = 8  # no half-resolution start below this many pixels a side


def half(x):
    """2 x 2 block means (a last odd row or column is dropped)."""
    x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
    return np.ascontiguousarray(0.25 * (x[::2, ::2] + x[1::2, ::2] + x[::2, 1::2]
                                        + x[1::2, 1::2]))


def resolve_solver(scheme, solver, v_step):
    """(solver, v_step) with their per-scheme defaults, checked."""
    check_choice("scheme", scheme, tuple(SCHEMES))
    if solver is None:
        solver = "ipiano" if scheme == "paper" else "bcd"
    check_choice("solver", solver, SOLVERS)
    if solver == "bcd" and scheme == "paper":
        raise ValueError("solver: 'bcd' minimises the exact energy; the paper scheme is "
                         "its iPiano run (use solver='ipiano' or scheme='exact')")
    if v_step is None:
        v_step = "explicit" if solver == "bcd" else "prox"
    check_choice("v_step", v_step, V_STEPS)
    return solver, v_step


def kernels_for(scheme, solver, v_step, eta, regularizer):
    """The kernels a channel's solve calls with these options (resolved)."""
    prox = eta > 0 and regularizer == "huber-tv" and v_step == "prox"
    if solver == "bcd":
        return _bcd.kernels(prox=prox)
    # the exact scheme's multiscale start also measures the gradient (gradient_energy)
    return _driver.kernels(paper=scheme == "paper", prox=prox, smooth=eta > 0 and not prox)


def precompile(*, scheme="exact", solver=None, v_step=None, eta=0.1,
               regularizer="huber-tv", dtype=np.float64, processes=None, announce=None):
    """Compile the kernels that :func:`fuse` calls with these options, once per install.

    The kernels are compiled for one float type at a time, the first time they are
    needed, and kept in Numba's on-disk cache; ``fuse`` calls this itself. A first run
    compiles those that are missing in ``processes`` processes side by side (default:
    the CPUs available, at most 4). ``announce(names)``, when given, is called first
    with the names of the kernels to be compiled, if there are any (the command line
    says there that this happens once). Returns those names (empty: all were cached).
    """
    check_choice("regularizer", regularizer, REGULARIZERS)
    solver, v_step = resolve_solver(scheme, solver, v_step)
    if processes is not None:
        check_number("processes", processes, positive=True, integer=True)
    return compile_kernels(kernels_for(scheme, solver, v_step, eta, regularizer),
                           resolve_dtype(dtype), processes=processes, announce=announce)


def solve(problem, options, **extra):
    """One channel by the solver that ``options["solver"]`` names."""
    options = dict(options)
    run = solve_channel_bcd if options.pop("solver") == "bcd" else solve_channel
    return run(*problem, **options, **extra)


def coarse_start(problem, options):
    """Replace u0, v0 of ``problem`` by the upsampled half-resolution solution.

    Returns the gradient norm at the ordinary start, which the stationarity keeps as
    its reference (None for the paper scheme, which does not compute it).
    """
    f, a, w, u0, v0 = problem
    model = {k: options[k] for k in ("eta", "mu", "gamma", "epsilon", "osm", "regularizer")}
    reference = gradient_norm(f, a, w, u0, v0, **model) \
        if options.get("scheme", "exact") == "exact" else None
    if min(f.shape) < 2 * MIN_COARSE_SIDE:
        return reference
    coarse = solve([half(x) for x in problem], options)
    for fine, x in ((u0, coarse.u), (v0, coarse.v)):
        zoom(x, (fine.shape[0] / x.shape[0], fine.shape[1] / x.shape[1]), output=fine,
             order=1)
    return reference
