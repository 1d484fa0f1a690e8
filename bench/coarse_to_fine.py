"""Experiment (issue 6, target 3): does a coarse-to-fine start pay?

    python3 -m bench.coarse_to_fine

Per channel of the puppets example: solve at half resolution (2 x 2 block means of f,
b and alpha) with the fast option (explicit v-step, gtol), upsample u and v (linear
interpolation) as the start of the full-resolution solve, and compare iterations and
seconds with a cold full-resolution start at the same stopping rule. The stationarity
is measured at full resolution against the cold start's (u0, v0) = (f, w).
"""

import time

import numpy as np
from scipy.ndimage import zoom

from fastosmosis._driver import solve_channel
from fastosmosis.model import Model, SolverOptions
from tests.stationarity import energy_gradient_norm

from ._data import load_puppets

MODEL = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, osm=1.0)
SOLVER = dict(tol=1e-6, max_iter=10000, pd_tol=1e-4, pd_max_iter=10000, v_step="explicit")


def half(x):
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:h, :w]
    return 0.25 * (x[::2, ::2] + x[1::2, ::2] + x[::2, 1::2] + x[1::2, 1::2])


def ipiano(problem, **opts):
    """solve_channel on ``problem`` under MODEL with SOLVER's options and ``opts``."""
    return solve_channel(*problem, Model(**MODEL),
                         SolverOptions.resolve(solver="ipiano", **dict(SOLVER, **opts)))


def problem(f, b, a):
    f, b = f + 1.0, b + 1.0
    w = f**a * b ** (1 - a)
    return [np.ascontiguousarray(x) for x in (f, a, w, f, w)]


def main():
    f3, b3, a3 = load_puppets()
    for gtol in (1e-3, 3.5e-4):
        cold_t = warm_t = 0.0
        rows = []
        for c in range(3):
            f, b, a = (x[..., c] / 255.0 for x in (f3, b3, a3))
            full = problem(f, b, a)
            g0 = energy_gradient_norm(full[3], full[4], full[0], full[2], full[1], **MODEL)
            t = time.perf_counter()
            cold = ipiano(problem(f, b, a), gtol=gtol)
            cold_t += time.perf_counter() - t
            t = time.perf_counter()
            coarse = ipiano(problem(half(f), half(b), half(a)), gtol=gtol)
            scale = (f.shape[0] / coarse.u.shape[0], f.shape[1] / coarse.u.shape[1])
            fine = problem(f, b, a)
            fine[3] = np.ascontiguousarray(zoom(coarse.u, scale, order=1))
            fine[4] = np.ascontiguousarray(zoom(coarse.v, scale, order=1))
            # gtol is relative to the start: rescale it to the cold start's gradient norm
            g_start = energy_gradient_norm(fine[3], fine[4], fine[0], fine[2], fine[1],
                                           **MODEL)
            warm = ipiano(fine, gtol=gtol * g0 / g_start)
            warm_t += time.perf_counter() - t
            st = energy_gradient_norm(warm.u, warm.v, fine[0], fine[2], fine[1], **MODEL)
            rows.append((cold.iterations, coarse.iterations, warm.iterations, st / g0))
        print(f"gtol {gtol:g}: cold {cold_t:.2f} s, iterations "
              f"{[r[0] for r in rows]}; coarse-to-fine {warm_t:.2f} s, coarse iterations "
              f"{[r[1] for r in rows]}, fine iterations {[r[2] for r in rows]}, "
              f"stationarity {max(r[3] for r in rows):.2g}")


if __name__ == "__main__":
    main()
