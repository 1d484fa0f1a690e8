"""Experiment (issue 6, target 3): a primal-dual tolerance tied to the outer progress.

    python3 -m bench.pd_tolerance

The exact scheme with the primal-dual prox on the puppets example (docs/model.md 7-8
settings), per channel through ``solve_channel``: the default fixed tolerance
(``pd_tol`` 1e-4 on the primal-dual residual) against ``pd_tol_rel`` = c, which stops
the prox of iteration n at ``max(1e-4, c * s)``, s the stationarity reached after
iteration n - 1 (1 at the start): loose while the outer iterate is far from stationary,
the fixed tolerance near the end. Both stopping rules: the default relative energy
change (tol 1e-6) and stationarity 1e-3 (gtol). Prints iPiano and primal-dual
iterations, seconds (after compilation), the summed energy, the worst channel's
stationarity and the 8-bit PSNR of u against the default run's.
"""

import time

import numpy as np

from tests.reference import psnr

from ._data import load_puppets
from .coarse_to_fine import ipiano, problem

SOLVER = dict(tol=1e-6, max_iter=10000, pd_tol=1e-4, pd_max_iter=10000, v_step="prox")
FACTORS = (None, 1e-3, 1e-2, 1e-1, 1.0)


def run(channels, **opts):
    """Solve every channel; return (solutions, seconds)."""
    t = time.perf_counter()
    sols = [ipiano(problem(f, b, a), **dict(SOLVER, **opts)) for f, b, a in channels]
    return sols, time.perf_counter() - t


def main():
    f3, b3, a3 = load_puppets()
    channels = [tuple(x[..., c] / 255.0 for x in (f3, b3, a3)) for c in range(3)]
    f, b, a = (x[:16, :16] for x in channels[0])
    ipiano(problem(f, b, a), **dict(SOLVER, pd_tol_rel=1e-2))  # compile
    print("| stopping rule | pd_tol_rel | iterations | primal-dual | seconds | energy "
          "| stationarity | PSNR vs default |")
    print("|---|---|---|---|---|---|---|---|")
    for gtol in (None, 1e-3):
        reference = None
        for c in FACTORS:
            sols, sec = run(channels, gtol=gtol, pd_tol_rel=c)
            u = np.stack([s.u for s in sols], axis=-1) - 1.0
            reference = u if reference is None else reference
            rule = "tol 1e-6" if gtol is None else f"gtol {gtol:g}"
            print(f"| {rule} | {c if c is not None else 'off (default)'} | "
                  f"{' / '.join(str(s.energies.size) for s in sols)} | "
                  f"{sum(int(s.pd_iterations.sum()) for s in sols):,} | {sec:.2f} | "
                  f"{sum(s.energies[-1] for s in sols):,.3f} | "
                  f"{max(s.stationarity[-1] for s in sols):.2g} | "
                  f"{psnr(u, reference):.1f} |", flush=True)


if __name__ == "__main__":
    main()
