"""One fused primal-dual iteration against the memory-bandwidth reference (issue 6, target 1).

    python3 -m pytest bench/bench_kernels.py --benchmark-enable --benchmark-only

At 4 and 16 megapixels (2048 x 2048, 4096 x 4096; the kernel's 9 arrays take 144 MB to
1.2 GB), float64 and float32, each group times the plain parallel copy of
``bench/_bandwidth.py`` (the reference) and ``kernels.pd_iteration`` on the same size and
dtype, with the same threads. The copy cycles through a ring of source / destination
pairs of at least 512 MB in all, so that every timed copy starts from main memory: the
machine reports a 32 MB L3 but caches more (one pair copied over and over: 130-220 GB/s
up to 32 MB, 55-60 GB/s at 64-128 MB, a steady 46-49 GB/s from 256 MB on), and a copy of
one 2048 x 2048 float32 pair (32 MB) alone would time the cache.

Bytes counted per pixel, write-allocate reads not counted in either: the copy reads 1
array and writes 1; ``pd_iteration`` reads 5 (vd, x, xbar, y1, y2) and writes 4 (x,
xbar, y1, y2 of the other buffer set). ``extra_info`` holds GB/s, ns per pixel and the
percentage of the copy's GB/s (target: >= 60%). In the smoke run (timing disabled) the
size is 64 x 64 and each call runs once.
"""

import numpy as np
import pytest

import fastosmosis.kernels as K
from fastosmosis._driver import block_rows

from ._bandwidth import copy_kernel
from .bench_solver import PD_SCALARS, pd_state

PD_ARRAYS = 9  # read vd, x, xbar, y1, y2; write x, xbar, y1, y2
COPY_ARRAYS = 2  # read src, write dst
ROUNDS = 15
RING_BYTES = 512 * 2**20  # the copy bandwidth stops falling at 256 MB here (text above)
_copy_seconds = {}  # (side, dtype) -> best copy time of this session

CASES = [(side, dt, impl) for side in (2048, 4096) for dt in ("float64", "float32")
         for impl in ("copy", "fused")]


def _record(benchmark, seconds, side, itemsize, arrays):
    """GB/s and ns per pixel of a pass moving ``arrays`` arrays of side x side pixels."""
    nbytes = arrays * itemsize * side * side
    benchmark.extra_info["bytes"] = nbytes
    benchmark.extra_info["GB_per_s"] = nbytes / seconds / 1e9
    benchmark.extra_info["ns_per_pixel"] = seconds / side**2 * 1e9
    return nbytes / seconds


@pytest.mark.parametrize("side,dtype,impl", CASES,
                         ids=[f"{s}-{d}-{i}" for s, d, i in CASES])
def test_pd_iteration_bandwidth(benchmark, is_smoke, side, dtype, impl):
    if is_smoke:
        side = 64
    dt = np.dtype(dtype)
    benchmark.group = f"pd_iteration vs copy {side}x{side} {dtype}"
    benchmark.extra_info["megapixels"] = side * side / 1e6
    rounds = 1 if is_smoke else ROUNDS
    if impl == "copy":
        benchmark.extra_info["reference"] = True
        # a ring of (src, dst) pairs, each copied in turn, so that every round starts
        # with its pair evicted from the cache, as pd_iteration's 9 arrays are
        pair_bytes = 2 * dt.itemsize * side * side
        n_pairs = 1 if is_smoke else max(1, -(-RING_BYTES // pair_bytes))
        src0 = np.random.default_rng(0).random((side, side)).astype(dt)
        pairs = [(src0 + k, np.empty_like(src0)) for k in range(n_pairs)]
        for src, dst in pairs:
            copy_kernel(src, dst)  # compile, fault the pages in
        turn = iter(range(10**9))
        benchmark.pedantic(copy_kernel, setup=lambda: (pairs[next(turn) % n_pairs], {}),
                           rounds=rounds, warmup_rounds=0)
        assert all(np.array_equal(src, dst) for src, dst in pairs)
        benchmark.extra_info["copy_footprint_MB"] = len(pairs) * pair_bytes / 2**20
        if benchmark.stats:
            t = benchmark.stats.stats.min
            _copy_seconds[side, dtype] = t
            _record(benchmark, t, side, dt.itemsize, COPY_ARRAYS)
        return
    state = pd_state(side, dt.type)
    rows = block_rows(side)
    nblk = -(-side // rows)
    outs = [np.empty_like(state[0]) for _ in range(4)]
    scratch = [np.empty((nblk, side), dt) for _ in range(2)]
    args = (*state, *outs, *scratch, np.zeros(side, dt), *PD_SCALARS, rows,
            np.empty((side, 2)))
    K.pd_iteration(*args)  # compile, fault the output pages in
    res = benchmark.pedantic(K.pd_iteration, args, rounds=rounds, warmup_rounds=0)
    assert np.isfinite(res)
    if benchmark.stats:
        bw = _record(benchmark, benchmark.stats.stats.min, side, dt.itemsize, PD_ARRAYS)
        copy_t = _copy_seconds.get((side, dtype))
        if copy_t is not None:
            copy_bw = COPY_ARRAYS * dt.itemsize * side * side / copy_t
            benchmark.extra_info["pct_of_copy"] = 100 * bw / copy_bw
