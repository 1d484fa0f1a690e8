"""Public API: ``fuse`` and ``energy``.

Validates and converts the inputs (scikit-image conventions: uint8 / 255, uint16 / 65535,
floats as given), prepares each channel (offset, alpha blur, target w, initialisation,
MODEL.md 1) and hands it to the block-iPiano driver.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numba
import numpy as np
from scipy.ndimage import gaussian_filter, zoom

from . import _bcd, _driver, _threads
from . import kernels as K
from ._bcd import GTOL, solve_channel_bcd
from ._driver import REGULARIZERS, SCHEMES, V_STEPS, gradient_norm, solve_channel
from .kernels.compile import precompile as compile_kernels

INITS = ("foreground", "blend", "mean")
SOLVERS = ("bcd", "ipiano")
IPIANO_TOL = 1e-6  # the iPiano solver's default stopping rule, the paper's
DTYPES = (np.float32, np.float64)


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
        """Sum over the channels of the last energy (the initial one if none ran)."""
        return float(sum(e[-1] for e in self.energies if len(e)))


class _Image:
    """A validated input image, kept as the caller's array and converted channel by channel.

    Converting one channel at a time keeps the memory of a large colour image at one
    working channel instead of a float64 copy of the whole stack.
    """

    def __init__(self, name, x, *, nonnegative=True):
        x = np.asarray(x)
        if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer)
                                       or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"{name}: unsupported dtype {x.dtype} "
                             "(use uint8, uint16 or float)")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: expected an H x W or H x W x C array, "
                             f"got shape {x.shape}")
        if x.size == 0:
            raise ValueError(f"{name}: empty array of shape {x.shape}")
        if np.issubdtype(x.dtype, np.integer):
            if x.dtype not in (np.uint8, np.uint16):
                raise ValueError(f"{name}: unsupported dtype {x.dtype} "
                                 "(integer images must be uint8 or uint16)")
            self.divisor = float(np.iinfo(x.dtype).max)
        else:
            self.divisor = None
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{name}: contains NaN or infinite values")
            if nonnegative and np.any(x < 0):
                raise ValueError(f"{name}: contains negative values (min {x.min():.4g})")
        self.name, self.array = name, x
        self.shape = x.shape
        self.channels = 1 if x.ndim == 2 else x.shape[2]

    def max(self):
        return self.array.max() / (self.divisor or 1.0)

    def as_float64(self):
        """The whole image as float64 in [0, 1]."""
        if self.divisor is None:
            return self.array.astype(np.float64)
        return self.array.astype(np.float64) / self.divisor

    def channel(self, c, rows=slice(None)):
        """Channel c (those rows) as float64 in [0, 1]; a 2-D image is every channel."""
        x = self.array[rows] if self.array.ndim == 2 else \
            self.array[rows, :, min(c, self.channels - 1)]
        if self.divisor is None:
            return x.astype(np.float64)
        return x.astype(np.float64) / self.divisor


def _check_number(name, value, *, positive=False, nonnegative=False, integer=False):
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{name}: expected a {'whole ' if integer else ''}number, "
                         f"got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name}: must be positive, got {value!r}")
    if nonnegative and not value >= 0:
        raise ValueError(f"{name}: must be non-negative, got {value!r}")


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: unknown value {value!r}; expected one of {choices}")


def _model_parameters(eta, mu, gamma, epsilon, osm, offset, alpha_blur):
    _check_number("eta", eta, nonnegative=True)
    _check_number("gamma", gamma, nonnegative=True)
    for name, value in (("mu", mu), ("epsilon", epsilon), ("osm", osm), ("offset", offset)):
        _check_number(name, value, positive=True)
    if alpha_blur is not None:
        _check_number("alpha_blur", alpha_blur, positive=True)


def _resolve_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype: unknown dtype {dtype!r}; expected float32 or float64") \
            from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype: expected float32 or float64, got {dt}")
    return dt.type


def _prepare(foreground, background, alpha):
    """Validated inputs (f, b, alpha as :class:`_Image`) and the output shape."""
    f = _Image("foreground", foreground)
    b = _Image("background", background)
    if f.shape != b.shape:
        raise ValueError(f"background: shape {b.shape} differs from the foreground's "
                         f"{f.shape}")
    a = _Image("alpha", alpha)
    if a.max() > 1:
        raise ValueError(f"alpha: values must lie in [0, 1], max is {a.max():.4g}")
    hw = f.shape[:2]
    if a.shape[:2] != hw or (a.array.ndim == 3 and a.channels not in (1, f.channels)):
        raise ValueError(f"alpha: shape {a.shape} does not fit the foreground's {f.shape} "
                         f"(expected {hw} or {hw + (f.channels,)})")
    return f, b, a, f.shape


PREP_ROWS = 256  # rows converted at a time, so float64 temporaries stay small


def _alpha_source(a, c, alpha_blur):
    """Rows -> alpha of channel c (float64): blurred once whole, else read as needed."""
    if alpha_blur is None:
        return lambda rows: a.channel(c, rows)
    blurred = gaussian_filter((a.channel(c) == 1).astype(np.float64), alpha_blur)
    return lambda rows: blurred[rows]


def _bands(height):
    return [slice(r, min(r + PREP_ROWS, height)) for r in range(0, height, PREP_ROWS)]


def _check_init(init, a, alpha_blur, channels):
    """init="mean" divides by sum(alpha) and sum(1 - alpha): refuse 0 before any work.

    With ``alpha_blur`` the test reads the indicator of alpha == 1 without blurring it:
    the blurred indicator is 0 everywhere exactly when the indicator is (the Gaussian's
    weights are positive), and 1 everywhere when it is (they sum to 1 under reflection,
    where the blur itself may round 1 to 1 - 1e-16 and let an all-ones alpha through).
    """
    if init != "mean":
        return
    for c in range(channels if a.channels > 1 else 1):
        alpha = a.channel(c)
        if alpha_blur is not None:
            alpha = (alpha == 1).astype(np.float64)
        if alpha.sum() == 0 or (1 - alpha).sum() == 0:
            which = "0" if alpha.sum() == 0 else "1"
            raise ValueError(f"init: 'mean' needs alpha not all {which} (channel {c})")


def _channel_problem(fi, bi, ai, c, *, init, offset, alpha_blur, dtype):
    """Channel c as (f, alpha, w, u0, v0), C-contiguous arrays of ``dtype``.

    b enters only through the target w: the solver never needs it again.

    ``w = f^alpha b^(1 - alpha)`` and u0 (MODEL.md 1) are computed in float64 a band of
    rows at a time, so that a float32 problem never holds float64 copies of a whole
    channel (a 4096 x 4096 channel is 134 MB per float64 array).
    """
    h, wd = fi.shape[:2]
    alpha_of = _alpha_source(ai, c, alpha_blur)
    bands = _bands(h)
    if init == "mean":  # the weighted means of f and b over the whole channel
        sums = np.zeros(4)
        for rows in bands:
            f, b, a = fi.channel(c, rows) + offset, bi.channel(c, rows) + offset, alpha_of(rows)
            sums += ((a * f).sum(), a.sum(), ((1 - a) * b).sum(), (1 - a).sum())
        m_f, m_b = sums[0] / sums[1], sums[2] / sums[3]
    out = tuple(np.empty((h, wd), dtype) for _ in range(5))
    for rows in bands:
        f, b, a = fi.channel(c, rows) + offset, bi.channel(c, rows) + offset, alpha_of(rows)
        w = f**a * b ** (1 - a)
        if init == "foreground":
            u0 = f
        elif init == "blend":
            u0 = a * f + (1 - a) * b
        else:
            u0 = a * m_f + (1 - a) * m_b
        for target, x in zip(out, (f, a, w, u0, w), strict=True):
            target[rows] = x
    return out


MIN_COARSE_SIDE = 8  # no half-resolution start below this many pixels a side


def _half(x):
    """2 x 2 block means (a last odd row or column is dropped)."""
    x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
    return np.ascontiguousarray(0.25 * (x[::2, ::2] + x[1::2, ::2] + x[::2, 1::2]
                                        + x[1::2, 1::2]))


def _resolve_solver(scheme, solver, v_step):
    """(solver, v_step) with their per-scheme defaults, checked."""
    _check_choice("scheme", scheme, tuple(SCHEMES))
    if solver is None:
        solver = "ipiano" if scheme == "paper" else "bcd"
    _check_choice("solver", solver, SOLVERS)
    if solver == "bcd" and scheme == "paper":
        raise ValueError("solver: 'bcd' minimises the exact energy; the paper scheme is "
                         "its iPiano run (use solver='ipiano' or scheme='exact')")
    if v_step is None:
        v_step = "explicit" if solver == "bcd" else "prox"
    _check_choice("v_step", v_step, V_STEPS)
    return solver, v_step


def _kernels(scheme, solver, v_step, eta, regularizer):
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
    _check_choice("regularizer", regularizer, REGULARIZERS)
    solver, v_step = _resolve_solver(scheme, solver, v_step)
    if processes is not None:
        _check_number("processes", processes, positive=True, integer=True)
    return compile_kernels(_kernels(scheme, solver, v_step, eta, regularizer),
                           _resolve_dtype(dtype), processes=processes, announce=announce)


def _solve(problem, options, **extra):
    """One channel by the solver that ``options["solver"]`` names."""
    options = dict(options)
    run = solve_channel_bcd if options.pop("solver") == "bcd" else solve_channel
    return run(*problem, **options, **extra)


def _coarse_start(problem, options):
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
    coarse = _solve([_half(x) for x in problem], options)
    for fine, x in ((u0, coarse.u), (v0, coarse.v)):
        zoom(x, (fine.shape[0] / x.shape[0], fine.shape[1] / x.shape[1]), output=fine,
             order=1)
    return reference


class InsufficientMemoryError(MemoryError, ValueError):
    """A problem too large for the memory available (raised before any work starts)."""


# images of one channel's size that each solver holds while it runs (its work arrays,
# the hierarchy's coarse levels included), and the primal-dual prox's state on top; the
# result adds u (and v) of every channel
WORK_IMAGES = {"bcd": 12.0, "ipiano": 11.0}
PROX_IMAGES = 8.0


def available_memory():
    """Bytes of memory available to this process now (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(shape, dtype, solver="bcd", *, prox=False, return_v=True, workers=1):
    """Bytes that :func:`fuse` needs beyond its inputs for an H x W (x C) problem
    (``prox``: the v-block runs the primal-dual prox; ``workers``: channels solved side
    by side, each with its own work arrays)."""
    h, w = shape[:2]
    channels = shape[2] if len(shape) == 3 else 1
    item = np.dtype(dtype).itemsize
    work = WORK_IMAGES[solver] + (PROX_IMAGES if prox else 0.0)
    return int(h * w * item * (work * workers + (1 + bool(return_v)) * channels))


def _fits(shape, dtype, solver, prox, return_v, workers):
    """Whether ``workers`` channels side by side fit in the memory available now."""
    have = available_memory()
    return have is None or memory_needed(shape, dtype, solver, prox=prox,
                                         return_v=return_v, workers=workers) <= have


def _check_memory(shape, dtype, solver, prox, return_v):
    need = memory_needed(shape, dtype, solver, prox=prox, return_v=return_v)
    have = available_memory()
    if have is not None and need > have:
        hint = ""
        if np.dtype(dtype) == np.float64:
            small = memory_needed(shape, np.float32, solver, prox=prox,
                                  return_v=return_v) / 1e9
            hint = f"; dtype=float32 needs about {small:.1f} GB"
        raise InsufficientMemoryError(
            f"memory: a {' x '.join(map(str, shape))} problem needs about {need / 1e9:.1f} GB "
            f"with solver {solver!r} in {np.dtype(dtype).name}, and {have / 1e9:.1f} GB "
            f"are available{hint}")


def _thread_count(threads):
    """The threads a call may use: ``threads`` (checked), or all of Numba's."""
    if threads is None:
        return numba.get_num_threads()
    _check_number("threads", threads, positive=True, integer=True)
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads: at most {numba.config.NUMBA_NUM_THREADS} "
                         f"available, got {threads}")
    return int(threads)


def fuse(foreground, background, alpha, *, eta=0.1, mu=100.0, gamma=1.0, epsilon=0.05,
         osm=1.0, init="foreground", alpha_blur=None, scheme="exact", solver=None,
         gtol=None, tol=None, max_iter=10000, pd_tol=1e-4, pd_max_iter=10000,
         warm_start=None, offset=1.0, dtype=np.float64, threads=None, callback=None,
         regularizer="huber-tv", v_step=None, pd_tol_rel=None,
         multiscale=False, return_v=True) -> FusionResult:
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
        "exact": exact gradients and proxes of the discrete energy, so that every
        accepted step decreases the energy reported. "paper": the authors' reference
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
    dtype : float64 or float32
        Working precision; the energy and its sums are accumulated in float64 either
        way. In float32 the primal-dual loop also stops at its rounding floor (one
        ulp of the largest input value over its step size), where float64 goes on to ``pd_tol``.
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

    Returns
    -------
    FusionResult
    """
    start = time.perf_counter()
    _model_parameters(eta, mu, gamma, epsilon, osm, offset, alpha_blur)
    _check_choice("init", init, INITS)
    _check_choice("regularizer", regularizer, REGULARIZERS)
    solver, v_step = _resolve_solver(scheme, solver, v_step)
    for name, value in (("multiscale", multiscale), ("return_v", return_v)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name}: expected True or False, got {value!r}")
    for name, value in (("gtol", gtol), ("pd_tol_rel", pd_tol_rel)):  # stationarity rules
        if value is not None:
            _check_number(name, value, positive=True)
            if scheme == "paper":
                raise ValueError(f"{name}: the paper scheme does not compute the energy's "
                                 f"gradient; use scheme='exact' or {name}=None")
    if pd_tol_rel is not None and solver == "bcd":
        raise ValueError("pd_tol_rel: ties iPiano's primal-dual tolerance to its "
                         "progress; use solver='ipiano' or pd_tol_rel=None")
    if gtol is None and solver == "bcd":
        gtol = GTOL
    if tol is None and solver == "ipiano":
        tol = IPIANO_TOL
    if tol is not None:
        _check_number("tol", tol, positive=True)
    _check_number("pd_tol", pd_tol, positive=True)
    _check_number("max_iter", max_iter, positive=True, integer=True)
    _check_number("pd_max_iter", pd_max_iter, positive=True, integer=True)
    if warm_start is not None and not isinstance(warm_start, (bool, np.bool_)):
        raise ValueError(f"warm_start: expected True, False or None, got {warm_start!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback: expected a callable, got {callback!r}")
    dt = _resolve_dtype(dtype)
    n_threads = _thread_count(threads)
    warm = SCHEMES[scheme].warm_start if warm_start is None else bool(warm_start)
    fi, bi, ai, shape = _prepare(foreground, background, alpha)
    _check_init(init, ai, alpha_blur, fi.channels)
    prox = eta > 0 and regularizer == "huber-tv" and v_step == "prox"
    _check_memory(shape, dt, solver, prox, return_v)

    compile_kernels(_kernels(scheme, solver, v_step, eta, regularizer), dt)
    parameters = dict(eta=eta, mu=mu, gamma=gamma, epsilon=epsilon, osm=osm, init=init,
                      alpha_blur=alpha_blur, scheme=scheme, solver=solver, tol=tol,
                      max_iter=max_iter,
                      pd_tol=pd_tol, pd_max_iter=pd_max_iter, warm_start=warm,
                      offset=offset, dtype=np.dtype(dt).name, threads=threads,
                      regularizer=regularizer, v_step=v_step, gtol=gtol,
                      pd_tol_rel=pd_tol_rel, multiscale=bool(multiscale))
    result = FusionResult(u=np.empty(shape, dt), v=np.empty(shape, dt) if return_v else None,
                          parameters=parameters)
    u_out = result.u[..., None] if result.u.ndim == 2 else result.u
    v_out = None if result.v is None else result.v.reshape(shape[:2] + (-1,))
    options = dict(solver=solver, eta=eta, mu=mu, gamma=gamma, epsilon=epsilon, osm=osm,
                   tol=tol, max_iter=max_iter, pd_tol=pd_tol, pd_max_iter=pd_max_iter,
                   warm_start=warm, regularizer=regularizer, v_step=v_step, gtol=gtol)
    if solver == "ipiano":
        options.update(scheme=scheme, pd_tol_rel=pd_tol_rel)

    def solve(c, cb):
        """Channel c into u_out, v_out; its solution without the images."""
        problem = _channel_problem(fi, bi, ai, c, init=init, offset=offset,
                                   alpha_blur=alpha_blur, dtype=dt)
        gnorm_ref = _coarse_start(problem, options) if multiscale else None
        sol = _solve(problem, options, gnorm_ref=gnorm_ref, channel=c, callback=cb)
        del problem
        np.subtract(sol.u, dt(offset), out=u_out[..., c])  # no temporary channel
        if v_out is not None:
            np.subtract(sol.v, dt(offset), out=v_out[..., c])
        # its u and v: two images that the next channel's problem can reuse
        return dataclasses.replace(sol, u=None, v=None)

    workers, per_worker = _threads.plan(
        shape[0] * shape[1], fi.channels, n_threads,
        lambda k: _fits(shape, dt, solver, prox, return_v, k))
    for sol in _threads.run_channels(solve, fi.channels, workers, per_worker, callback):
        result.energies.append(sol.energies)
        result.iterations.append(sol.iterations)
        result.pd_iterations.append(sol.pd_iterations)
        result.linear_iterations.append(sol.linear_iterations)
        result.pd_accepted.append(sol.pd_accepted)
        result.stationarity.append(sol.stationarity)
        result.stop_reasons.append(sol.stop_reason)
        result.channel_seconds.append(sol.seconds)
    result.parameters["workers"] = workers
    result.seconds = time.perf_counter() - start
    return result


def energy(u, v, foreground, background, alpha, *, eta=0.1, mu=100.0, gamma=1.0,
           epsilon=0.05, osm=1.0, alpha_blur=None, offset=1.0, dtype=np.float64,
           regularizer="huber-tv"):
    """Energy E(u, v) of MODEL.md 3 per channel, for u, v given with the offset removed.

    Parameters are those of :func:`fuse` (the same model). Returns a float64 array with
    one energy per channel.
    """
    _model_parameters(eta, mu, gamma, epsilon, osm, offset, alpha_blur)
    _check_choice("regularizer", regularizer, REGULARIZERS)
    kind = K.TIKHONOV if regularizer == "tikhonov" else K.HUBER
    dt = _resolve_dtype(dtype)
    fi, bi, ai, shape = _prepare(foreground, background, alpha)
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
        f, a, w, _, _ = _channel_problem(fi, bi, ai, c, init="foreground",
                                            offset=offset, alpha_blur=alpha_blur, dtype=dt)
        uc = np.ascontiguousarray(us[c] + offset, dtype=dt)
        vc = np.ascontiguousarray(vs[c] + offset, dtype=dt)
        t = K.energy_terms(uc, vc, w, f, a, osm, mu, gamma, epsilon, kind, partial)
        energies[c] = t[0] + t[1] + t[2] + eta * t[3]
    return energies
