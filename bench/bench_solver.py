"""Time per primal-dual iteration and per iPiano iteration: fused kernels vs NumPy.

Reproduce: ``python3 -m pytest bench/bench_solver.py --benchmark-only`` (see
bench/README.md); the ratio table is printed at the end.
"""

import numpy as np
import pytest

import fastosmosis.kernels as K
from fastosmosis._driver import prox_block_rows, solve_channel
from fastosmosis.model import Model, SolverOptions
from tests import reference as R

from .conftest import puppets_crop

PD_SCALARS = (0.05, 0.1, 9.0, 0.9, 0.09, 11.0, 0.1, 0.5)


def pd_state(n, dtype):
    rng = np.random.default_rng(1)
    vd, x, xb = (np.ascontiguousarray(rng.uniform(1, 2, (n, n)), dtype) for _ in range(3))
    y1, y2 = (np.ascontiguousarray(rng.uniform(-0.3, 0.3, (n, n)), dtype) for _ in range(2))
    y1[-1] = 0
    y2[:, -1] = 0
    return vd, x, xb, y1, y2


@pytest.mark.parametrize("impl", ["reference", "fused-float64", "fused-float32"])
def test_pd_iteration(benchmark, size, impl):
    benchmark.group = f"primal-dual iteration {size}x{size}"
    dtype = np.float32 if impl.endswith("32") else np.float64
    state = pd_state(size, dtype)
    if impl == "reference":
        benchmark.extra_info["reference"] = True
        benchmark(R.pd_iteration, *state, *PD_SCALARS)
        return
    rows = prox_block_rows(size)
    nblk = -(-size // rows)
    outs = [np.empty_like(state[0]) for _ in range(4)]
    scratch = [np.empty((nblk, size), dtype) for _ in range(2)]
    args = (*state, *outs, *scratch, np.zeros(size, dtype), *PD_SCALARS, rows,
            np.empty((size, 2)), np.inf)
    K.pd_iteration(*args)
    benchmark(K.pd_iteration, *args)
    if benchmark.stats:  # None when timing is disabled
        benchmark.extra_info["ns_per_pixel"] = benchmark.stats.stats.min / size**2 * 1e9


IPIANO_ITERS = 5


@pytest.mark.parametrize("impl", ["reference", "fused-float64", "fused-float32"])
def test_ipiano_iteration(benchmark, size, is_smoke, impl):
    """IPIANO_ITERS iterations of the exact scheme on a puppets crop (red channel)."""
    benchmark.group = f"iPiano iteration {size}x{size} (x{IPIANO_ITERS})"
    f, b, a = puppets_crop(size)
    f, b = f + 1.0, b + 1.0
    kw = dict(eta=0.5, mu=100.0, gamma=1.0)
    if impl == "reference":
        benchmark.extra_info["reference"] = True
        out = benchmark.pedantic(R.ipiano, (f, b, a), dict(kw, eps=0.05,
                                 max_iter=IPIANO_ITERS), rounds=1 if is_smoke else 3)
        benchmark.extra_info["pd_iterations"] = int(out[3].sum())
        if benchmark.stats:
            benchmark.extra_info["ms_per_ipiano_iteration"] = (
                benchmark.stats.stats.min / IPIANO_ITERS * 1e3)
        return
    dtype = np.float32 if impl.endswith("32") else np.float64
    w = f**a * b ** (1 - a)
    args = [np.ascontiguousarray(x, dtype) for x in (f, a, w, f, w)]
    # tol 0: every iteration runs (SolverOptions built directly: resolve() wants tol > 0)
    options = SolverOptions(solver="ipiano", v_step="prox", gtol=None, tol=0.0,
                            max_iter=IPIANO_ITERS, pd_tol=1e-4, pd_max_iter=10000,
                            warm_start=True)
    run = lambda: solve_channel(*args, Model(**kw, epsilon=0.05, osm=1.0),  # noqa: E731
                                options)
    sol = benchmark.pedantic(run, rounds=1 if is_smoke else 5, warmup_rounds=0 if
                             is_smoke else 1)
    assert sol.iterations == IPIANO_ITERS
    benchmark.extra_info["pd_iterations"] = int(sol.pd_iterations.sum())
    if benchmark.stats:
        benchmark.extra_info["ms_per_ipiano_iteration"] = (
            benchmark.stats.stats.min / IPIANO_ITERS * 1e3)
