"""Compiled layer of fastosmosis: every @njit function, and nothing else.

Installed as ``fastosmosis.kernels``. One module per concern:

- ``operators``: forward gradient with Neumann boundary and its adjoint;
- ``osmosis``: the smooth part S of the energy and its exact gradients;
- ``exact``: the exact scheme's fused passes (gradients with the energy, both tests);
- ``steps``: the explicit iPiano steps and the prox of the u-fidelity;
- ``huber``: the primal-dual prox of the Huber-TV term;
- ``energy``: the energy and the descent-test quantities;
- ``paper``: the paper scheme's gradients and descent tests (MODEL.md 6);
- ``regularizer``: smooth regularisers of v taken in the explicit v-step.
"""

from .energy import descent_terms, energy_terms
from .exact import ROW_BUFFERS, descent_pair, gradient_energy
from .huber import huber_prox, pd_iteration
from .operators import grad, grad_t
from .osmosis import smooth_gradient, smooth_value
from .paper import paper_gradients, paper_u_test, paper_v_test
from .regularizer import HUBER, TIKHONOV, reg_descent, reg_gradient_add
from .steps import u_step_prox, v_step

__all__ = [
    "HUBER",
    "ROW_BUFFERS",
    "descent_pair",
    "gradient_energy",
    "TIKHONOV",
    "paper_gradients",
    "paper_u_test",
    "paper_v_test",
    "reg_descent",
    "reg_gradient_add",
    "descent_terms",
    "energy_terms",
    "grad",
    "grad_t",
    "huber_prox",
    "pd_iteration",
    "smooth_gradient",
    "smooth_value",
    "u_step_prox",
    "v_step",
]
