"""Memory-bandwidth reference for the benchmarks: a plain parallel copy.

A fused kernel that streams k arrays through memory once cannot beat k times the time
of moving one array; ``copy_bandwidth`` measures what this machine moves per second
with the same tools (Numba, prange over rows) that the kernels use.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit, prange

__all__ = ["copy_kernel", "copy_bandwidth"]


@njit(
    ["void(float32[:, ::1], float32[:, ::1])", "void(float64[:, ::1], float64[:, ::1])"],
    parallel=True,
    cache=True,
)
def copy_kernel(src, dst):
    """``dst[...] = src``, one row per prange iteration."""
    for i in prange(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


def copy_bandwidth(n_pixels, dtype=np.float64, repeats=10):
    """Bytes per second of ``copy_kernel`` on an image of about ``n_pixels`` pixels.

    The image is the nearly square ``h x (n_pixels // h)`` with ``h = isqrt(n_pixels)``.
    One copy counts ``2 * itemsize * n`` bytes (read src, write dst; the write-allocate
    read of dst is not counted); the best of ``repeats`` timed copies is used, after one
    untimed copy that faults the pages in.
    """
    h = max(1, math.isqrt(int(n_pixels)))
    w = max(1, int(n_pixels) // h)
    src = np.random.default_rng(0).random((h, w)).astype(dtype)
    dst = np.empty_like(src)
    copy_kernel(src, dst)
    best = math.inf
    for _ in range(max(1, int(repeats))):
        t = time.perf_counter()
        copy_kernel(src, dst)
        best = min(best, time.perf_counter() - t)
    return 2 * src.itemsize * src.size / best
