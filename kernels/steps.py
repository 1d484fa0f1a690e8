"""The explicit (inertial) steps of block iPiano and the prox of the u-fidelity.

    ud = u - a1 gu + beta1 (u - u_prev)
    p1 = (gamma alpha f + ud / a1) / (gamma alpha + 1 / a1)          (eq. 12)
    vd = v - a2 gv + beta2 (v - v_prev)
"""

from numba import prange, types

from ._types import kernel


@kernel(lambda A, F: types.void(A, A, A, A, A, F, F, F, A), parallel=True)
def u_step_prox(u, u_prev, gu, f, alpha, a1, beta1, gamma, out):
    """Explicit step of u followed by the prox of (gamma/2) alpha (u - f)^2."""
    h, w = u.shape
    inv_a1 = u.dtype.type(1) / a1
    for i in prange(h):
        for j in range(w):
            ud = u[i, j] - a1 * gu[i, j] + beta1 * (u[i, j] - u_prev[i, j])
            ga = gamma * alpha[i, j]
            out[i, j] = (ga * f[i, j] + ud * inv_a1) / (ga + inv_a1)


@kernel(lambda A, F: types.void(A, A, A, F, F, A), parallel=True)
def v_step(v, v_prev, gv, a2, beta2, out):
    """Explicit inertial step of v."""
    h, w = v.shape
    for i in prange(h):
        for j in range(w):
            out[i, j] = v[i, j] - a2 * gv[i, j] + beta2 * (v[i, j] - v_prev[i, j])
