"""The default solver's parts against their references (issue 13).

    python3 -m pytest bench/bench_bcd.py --benchmark-enable --benchmark-only

- u-block solve, size x size (512 timed, 64 in the smoke run) of a puppets crop: the
  fused conjugate gradients with the multigrid V-cycle, to ||dE/du|| at 1e-10 of its
  start, against SciPy's sparse direct solve (``tests/reference.py``, the reference of
  the group); extra_info holds the iterations, the mean convergence factor per
  iteration and ns per pixel and iteration.
- one outer iteration of the default solver against the NumPy reference minimiser's
  (``tests/reference.py``: the same u-block by the direct solve, the same three v-steps
  in NumPy).

The whole-run figures (accuracy, speed against iPiano, scale) come from
``python3 -m bench.minimiser``; bench/README.md has both.
"""

import numpy as np
import pytest

from fastosmosis._bcd import solve_channel_bcd
from fastosmosis._multigrid import USolver
from fastosmosis.model import Model, SolverOptions
from tests import reference as R

from .conftest import puppets_crop

MODEL = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05, osm=1.0)


def crop_problem(size):
    f, b, a = puppets_crop(size)
    f, b = f + 1.0, b + 1.0
    return tuple(np.ascontiguousarray(x) for x in (f, a, f**a * b ** (1 - a)))


@pytest.mark.parametrize("impl", ["scipy-direct", "cg-multigrid-float64",
                                  "cg-multigrid-float32"])
def test_u_solve(benchmark, size, is_smoke, impl):
    benchmark.group = f"u-block solve {size}x{size}"
    f, a, w = crop_problem(size)
    if impl == "scipy-direct":
        benchmark.extra_info["reference"] = True
        u = benchmark.pedantic(R.u_block_minimiser, (f, w, f, a, 1.0, 1.0),
                               rounds=1 if is_smoke else 3)
        assert np.all(np.isfinite(u))
        return
    dtype = np.float32 if impl.endswith("32") else np.float64
    f, a, w = (np.ascontiguousarray(x, dtype) for x in (f, a, w))
    solver = USolver(f.shape, dtype)
    u = np.empty_like(f)
    target = 1e-10 if dtype == np.float64 else 1e-5

    np.copyto(u, f)  # ||dE/du|| at the start, from a solve that stops at once
    start = solver.solve(u, w, a, f, osm=1.0, gamma=1.0, target=np.inf, max_iter=0).start

    def run():
        np.copyto(u, f)
        return solver.solve(u, w, a, f, osm=1.0, gamma=1.0, target=target * start,
                            max_iter=100)

    info = benchmark.pedantic(run, rounds=1 if is_smoke else 5,
                              warmup_rounds=0 if is_smoke else 1)
    benchmark.extra_info["iterations"] = info.iterations
    benchmark.extra_info["factor"] = (info.final / info.start) ** (1 / max(info.iterations, 1))
    if benchmark.stats:
        benchmark.extra_info["ns_per_pixel_iteration"] = (
            benchmark.stats.stats.min / size**2 / max(info.iterations, 1) * 1e9)


@pytest.mark.parametrize("impl", ["reference", "fused-float64"])
def test_outer_iteration(benchmark, size, is_smoke, impl):
    benchmark.group = f"bcd outer iteration {size}x{size}"
    f, a, w = crop_problem(size)
    if impl == "reference":
        benchmark.extra_info["reference"] = True
        model = dict(MODEL, eps=MODEL["epsilon"])
        del model["epsilon"]
        out = benchmark.pedantic(R.minimiser, (f, w, a, f, w), dict(model, max_outer=1),
                                 rounds=1 if is_smoke else 3)
        benchmark.extra_info["stationarity"] = float(out[2])
        return
    run = lambda: solve_channel_bcd(f, a, w, f.copy(), w.copy(), Model(**MODEL),  # noqa: E731
                                    SolverOptions(max_iter=1))
    sol = benchmark.pedantic(run, rounds=1 if is_smoke else 5,
                             warmup_rounds=0 if is_smoke else 1)
    assert sol.iterations == 1
    benchmark.extra_info["stationarity"] = float(sol.stationarity[-1])
