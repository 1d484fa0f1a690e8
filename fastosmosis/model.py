"""The model's parameters and the solver's options: each checked once, in one object.

``fuse`` builds one :class:`Model` and one :class:`SolverOptions` and hands both down to
the solver of every channel; ``energy`` takes the same :class:`Model`. What the model
means is docs/model.md 3; what the options do, docs/model.md 5-11.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import kernels as K
from .validation import check_choice, check_number

REGULARIZERS = ("huber-tv", "tikhonov")
SCHEMES = ("exact", "paper")
SOLVERS = ("bcd", "ipiano")
V_STEPS = ("prox", "explicit")
NO_REGULARIZER = 0  # the regulariser kind of a v-step that leaves R to the prox
GTOL = 1e-7  # solver "bcd": the default stationarity (results no longer depend on the path)
IPIANO_TOL = 1e-6  # solver "ipiano": the default relative energy change, the paper's


@dataclass(frozen=True)
class Model:
    """E(u, v) of docs/model.md 3: ``eta`` weighs the regulariser R (Huber-TV with
    ``epsilon``, or Tikhonov), ``mu`` the fidelity of v to w, ``gamma`` that of u to f
    where alpha > 0, ``osm`` the osmosis term."""

    eta: float = 0.1
    mu: float = 100.0
    gamma: float = 1.0
    epsilon: float = 0.05
    osm: float = 1.0
    regularizer: str = "huber-tv"

    def __post_init__(self):
        check_number("eta", self.eta, nonnegative=True)
        check_number("gamma", self.gamma, nonnegative=True)
        for name in ("mu", "epsilon", "osm"):
            check_number(name, getattr(self, name), positive=True)
        check_choice("regularizer", self.regularizer, REGULARIZERS)

    @property
    def kind(self):
        """R's kind for the kernels (``kernels.HUBER`` or ``kernels.TIKHONOV``)."""
        return K.TIKHONOV if self.regularizer == "tikhonov" else K.HUBER

    def takes_prox(self, v_step):
        """Whether the v-block takes R by the Huber-TV prox (the primal-dual loop)."""
        return self.eta > 0 and self.regularizer == "huber-tv" and v_step == "prox"

    def smooth_kind(self, v_step):
        """R's kind where the explicit v-step takes it, ``NO_REGULARIZER`` where it does
        not (the prox does, or eta = 0)."""
        if self.eta > 0 and not self.takes_prox(v_step):
            return self.kind
        return NO_REGULARIZER

    def asdict(self):
        return asdict(self)


@dataclass(frozen=True)
class SolverOptions:
    """How a channel is solved, defaults resolved per scheme and solver: ``solver``
    "bcd" (the exact scheme's minimiser) or "ipiano" (block iPiano, the paper scheme's
    only solver); the stopping rules ``gtol`` (stationarity) and ``tol`` (relative
    energy change), ``max_iter``; the v-step ("prox" or "explicit") and the primal-dual
    loop's ``pd_tol``, ``pd_max_iter``, ``warm_start`` and ``pd_tol_rel``."""

    scheme: str = "exact"
    solver: str = "bcd"
    v_step: str = "explicit"
    gtol: float | None = GTOL
    tol: float | None = None
    max_iter: int = 10000
    pd_tol: float = 1e-4
    pd_max_iter: int = 10000
    warm_start: bool = True
    pd_tol_rel: float | None = None

    @classmethod
    def resolve(cls, *, scheme="exact", solver=None, v_step=None, gtol=None, tol=None,
                max_iter=10000, pd_tol=1e-4, pd_max_iter=10000, warm_start=None,
                pd_tol_rel=None):
        """The options with None resolved to the scheme's and solver's defaults, every
        value checked (``ValueError`` naming the option)."""
        solver, v_step = resolve_solver(scheme, solver, v_step)
        for name, value in (("gtol", gtol), ("pd_tol_rel", pd_tol_rel)):
            if value is not None:
                check_number(name, value, positive=True)
                if scheme == "paper":
                    raise ValueError(f"{name}: the paper scheme does not compute the "
                                     f"energy's gradient; use scheme='exact' or {name}=None")
        if pd_tol_rel is not None and solver == "bcd":
            raise ValueError("pd_tol_rel: ties iPiano's primal-dual tolerance to its "
                             "progress; use solver='ipiano' or pd_tol_rel=None")
        if gtol is None and solver == "bcd":
            gtol = GTOL
        if tol is None and solver == "ipiano":
            tol = IPIANO_TOL
        if tol is not None:
            check_number("tol", tol, positive=True)
        check_number("pd_tol", pd_tol, positive=True)
        check_number("max_iter", max_iter, positive=True, integer=True)
        check_number("pd_max_iter", pd_max_iter, positive=True, integer=True)
        if warm_start is not None and not isinstance(warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start: expected True, False or None, got {warm_start!r}")
        # the paper's run restarts the primal-dual loop cold (docs/model.md 6.5)
        warm = (scheme == "exact") if warm_start is None else bool(warm_start)
        return cls(scheme=scheme, solver=solver, v_step=v_step, gtol=gtol, tol=tol,
                   max_iter=max_iter, pd_tol=pd_tol, pd_max_iter=pd_max_iter,
                   warm_start=warm, pd_tol_rel=pd_tol_rel)

    def asdict(self):
        return asdict(self)


def resolve_solver(scheme, solver, v_step):
    """(solver, v_step) with their per-scheme defaults, checked."""
    check_choice("scheme", scheme, SCHEMES)
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
