"""Benchmark fixtures and the ratio table.

Every group holds a reference (``tests/reference.py``, the scipy.sparse peer or the copy
kernel) measured in the same run, and the table printed at the end divides by it: one
absolute time means little on a shared 2-core machine, a ratio measured side by side
holds. Ratios use the minimum over the rounds, the estimate least disturbed by other
processes. With ``--benchmark-disable`` (the CI smoke run) the sizes shrink to 64 x 64 and
each function runs once.
"""

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def smoke(config):
    return bool(config.getoption("benchmark_disable", default=False))


@pytest.fixture(scope="session")
def is_smoke(request):
    return smoke(request.config)


@pytest.fixture(scope="session")
def size(is_smoke):
    """Side of the square test images: 512 when timing, 64 in the smoke run."""
    return 64 if is_smoke else 512


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
        tile = (lambda x: np.tile(x[..., channel] / 255.0, (reps, reps))[:n, :n])
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
    for group, benches in sorted(groups.items(), key=lambda kv: str(kv[0])):
        ref = [b for b in benches if b.extra_info.get("reference")]
        if not ref:
            continue
        ref_t = ref[0].stats.min
        tr.write_line(f"{group}: reference {ref[0].name} {ref_t * 1e3:.3f} ms")
        for b in benches:
            if b is ref[0]:
                continue
            info = {k: v for k, v in b.extra_info.items() if k != "reference"}
            extra = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in info.items())
            tr.write_line(f"  {b.name}: {b.stats.min * 1e3:.3f} ms, "
                          f"{ref_t / b.stats.min:.1f}x faster  {extra}")
