"""Compiled layer of fastosmosis: every @njit function, and nothing else.

Installed as ``fastosmosis.kernels``. One module per concern:

- ``operators``: forward gradient with Neumann boundary and its adjoint;
- ``osmosis``: the smooth part S of the energy, pixel by pixel;
- ``exact``: the exact scheme's fused passes (gradients with the energy, both tests);
- ``steps``: the explicit iPiano steps and the prox of the u-fidelity;
- ``huber``: the primal-dual iterations of the Huber-TV prox, one or two per pass;
- ``prox``: the primal-dual loop around them (steps, stopping rules);
- ``energy``: the energy in one pass;
- ``paper``: the paper scheme's gradients and descent tests (docs/model.md 6);
- ``regularizer``: smooth regularisers of v taken in the explicit v-step;
- ``multigrid``: the u-block's linear system and its multigrid preconditioner.
"""

from .energy import energy_terms
from .exact import ROW_BUFFERS, descent_pair, gradient_energy, v_descent
from .huber import RING_ROWS, pd_iteration, pd_pair
from .multigrid import (
    apply_dot,
    cg_direction,
    cg_update,
    coarsen_edges,
    dot,
    multiply,
    prolong_add,
    ratio_norm,
    residual,
    restrict,
    stencil_diagonal,
    sweep,
    u_system,
)
from .operators import grad, grad_t
from .paper import paper_gradients, paper_tests
from .prox import huber_prox
from .regularizer import HUBER, TIKHONOV, reg_descent, reg_gradient_add
from .steps import u_step_prox, v_step

__all__ = [
    "apply_dot",
    "cg_direction",
    "cg_update",
    "coarsen_edges",
    "dot",
    "multiply",
    "prolong_add",
    "ratio_norm",
    "residual",
    "restrict",
    "stencil_diagonal",
    "sweep",
    "u_system",
    "v_descent",
    "HUBER",
    "RING_ROWS",
    "ROW_BUFFERS",
    "TIKHONOV",
    "descent_pair",
    "energy_terms",
    "grad",
    "grad_t",
    "gradient_energy",
    "huber_prox",
    "paper_gradients",
    "paper_tests",
    "pd_iteration",
    "pd_pair",
    "reg_descent",
    "reg_gradient_add",
    "u_step_prox",
    "v_step",
]
