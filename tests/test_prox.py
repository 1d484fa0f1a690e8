"""The primal-dual Huber-TV prox against an independent solve of the same problem."""

import numpy as np
import pytest
from scipy.optimize import minimize

from fastosmosis._driver import HuberProx
from tests import reference as R


def huber_objective(vd, a2, eta, eps):
    """eta sum H_eps(|grad p|) + ||p - vd||^2 / (2 a2) and its gradient (it is C^1)."""

    def fun(p):
        p = p.reshape(vd.shape)
        g1, g2 = R.grad(p)
        t = np.sqrt(g1**2 + g2**2)
        m = np.maximum(eps, t)
        value = eta * np.sum(R.huber(t, eps)) + np.sum((p - vd) ** 2) / (2 * a2)
        gradient = eta * R.grad_t(g1 / m, g2 / m) + (p - vd) / a2
        return value, gradient.ravel()

    return fun


@pytest.mark.parametrize("shape", [(6, 7), (1, 8), (5, 1)])
@pytest.mark.parametrize("warm", [False, True])
def test_prox_matches_independent_solve(rng, shape, warm):
    vd = rng.uniform(1.0, 1.6, shape)
    a2, eta, eps = 0.5, 0.3, 0.05
    prox = HuberProx(shape, np.float64, eta=eta, kappa=eps / eta, pd_tol=1e-8,
                      pd_max_iter=100000, warm_start=warm)
    if warm:  # a first call leaves a dual behind for the second to start from
        prox(rng.uniform(1.0, 1.6, shape), a2)
    p, iters = prox(vd, a2)
    assert 0 < iters < 100000
    ref = minimize(huber_objective(vd, a2, eta, eps), vd.ravel(), jac=True, method="L-BFGS-B",
                   options=dict(ftol=1e-15, gtol=1e-12, maxiter=20000))
    np.testing.assert_allclose(p, ref.x.reshape(shape), atol=1e-6)


def test_moreau_identity_of_the_dual_step():
    """prox_{s f*}(z) + s prox_{f/s}(z/s) = z for f = eta H_eps(|.|) on one 2-vector.

    The dual step ``Proj_{|y|<=eta}(z / (1 + s eps/eta))`` is prox_{s f*}; the prox of f
    itself is computed independently by minimising over the 2-vector.
    """
    eta, eps, s = 0.5, 0.05, 3.0
    for z in ([0.1, -0.2], [2.0, 1.0], [0.01, 0.02], [-5.0, 0.3]):
        z = np.array(z)
        zz = z / (1 + s * eps / eta)
        dual = zz / max(1.0, np.linalg.norm(zz) / eta)

        def f(x, t=1 / s, z=z):
            n = np.linalg.norm(x)
            h = n**2 / (2 * eps) if n < eps else n - eps / 2
            return eta * t * h + 0.5 * np.sum((x - z / s) ** 2)

        primal = minimize(f, z / s, method="Nelder-Mead",
                          options=dict(xatol=1e-12, fatol=1e-14, maxiter=20000)).x
        np.testing.assert_allclose(dual + s * primal, z, atol=1e-7)


def test_prox_with_warm_start_keeps_dual_between_calls(rng):
    shape = (8, 9)
    vd = rng.uniform(1.0, 1.6, shape)
    cold = HuberProx(shape, np.float64, eta=0.5, kappa=0.1, pd_tol=1e-4,
                      pd_max_iter=10000, warm_start=False)
    warm = HuberProx(shape, np.float64, eta=0.5, kappa=0.1, pd_tol=1e-4,
                      pd_max_iter=10000, warm_start=True)
    _, first_cold = cold(vd, 0.3)
    _, first_warm = warm(vd, 0.3)
    assert first_cold == first_warm  # the first call starts from grad vd either way
    _, again_cold = cold(vd, 0.3)
    _, again_warm = warm(vd, 0.3)
    assert again_cold == first_cold
    assert again_warm < again_cold
    # the dual kept satisfies the invariant grad^T relies on
    y1, y2 = warm.sets[0][2], warm.sets[0][3]
    assert np.all(y1[-1] == 0) and np.all(y2[:, -1] == 0)
    assert np.all(np.hypot(y1, y2) <= 0.5 * (1 + 1e-12))
