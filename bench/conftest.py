"""Benchmark fixtures and the ratio table.

Every group holds a reference (``tests/reference.py``, the scipy.sparse peer or the copy
kernel) measured in the same run, and the table printed at the end divides by it: one
absolute time means little on a shared 2-core machine, a ratio measured side by side
holds. Ratios use the minimum over the rounds, the estimate least disturbed by other
processes. With ``--benchmark-disable`` (the CI smoke run) the sizes shrink to 64 x 64 and
each function runs once.
"""

import os
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def smoke(config):
    """Timing disabled: ``--benchmark-disable`` without ``--benchmark-enable``."""
    return bool(config.getoption("benchmark_disable", default=False)
                and not config.getoption("benchmark_enable", default=False))


@pytest.fixture(scope="session")
def is_smoke(request):
    return smoke(request.config)


@pytest.fixture(scope="session")
def size(is_smoke):
    """Side of the square test images: 512 when timing, 64 in the smoke run."""
    return 64 if is_smoke else 512


@pytest.fixture(autouse=True)
def _others_cpu(request):
    """Record in extra_info how much CPU other processes took while a benchmark ran.

    ``others_cpu`` is in cores (0: the machine was ours; 1: another process held a
    whole core of the two, and a 2-thread timing is then noise). With the environment
    variable ``BENCH_QUIET_WAIT=SECONDS``, each benchmark first waits up to that long
    for a quiet machine (``bench/quiet.py``).
    """
    from .quiet import OthersCpu, wait_quiet

    wait = float(os.environ.get("BENCH_QUIET_WAIT", "0") or 0)
    if wait > 0 and not smoke(request.config):
        wait_quiet(idle=0.9, window=2.0, timeout=wait, log=lambda m: None)
    with OthersCpu() as meter:
        yield
    bench = request.node.funcargs.get("benchmark")
    if bench is not None and meter.cores is not None and not smoke(request.config):
        bench.extra_info["others_cpu"] = meter.cores


@pytest.fixture
def need_data():
    """Skip where the shared puppets images (``../shared/data``) are absent."""
    if not (DATA / "1_foreground.png").exists():
        pytest.skip(f"no puppets example at {DATA}")


def puppets_crop(n, channel=0):
    """An n x n crop of the puppets example (f, b, alpha as float64 in [0, 1]).

    Falls back to a smooth synthetic problem where ../shared is absent.
    """
    if DATA.exists():
        import imageio.v3 as iio

        f, b, a = (iio.imread(DATA / f"1_{k}.png") for k in ("foreground", "background",
                                                              "alpha"))
        h, w = f.shape[:2]
        reps = -(-n // min(h, w))

        def tile(x):
            return np.tile(x[..., channel] / 255.0, (reps, reps))[:n, :n]

        return tile(f), tile(b), tile(a)
    t = np.linspace(0, 6, n)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    f = 0.5 + 0.4 * np.sin(xx) * np.cos(yy)
    b = 0.5 + 0.4 * np.cos(2 * xx + yy)
    return f, b, (xx < 3).astype(float)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or smoke(config) or not session.benchmarks:
        return
    groups = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group, []).append(bench)
    tr = terminalreporter
    tr.section("ratios against the reference of each group (minimum times)")

    def fmt(info):
        return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in info.items() if k != "reference")

    for group, benches in sorted(groups.items(), key=lambda kv: str(kv[0])):
        ref = [b for b in benches if b.extra_info.get("reference")]
        if not ref:
            continue
        ref_t = ref[0].stats.min
        tr.write_line(f"{group}: reference {ref[0].name} {ref_t * 1e3:.3f} ms  "
                      f"{fmt(ref[0].extra_info)}")
        for b in benches:
            if b is ref[0]:
                continue
            r = ref_t / b.stats.min
            speed = f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.2f}x slower"
            tr.write_line(f"  {b.name}: {b.stats.min * 1e3:.3f} ms, {speed}  "
                          f"{fmt(b.extra_info)}")
