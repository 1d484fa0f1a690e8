"""Memory: what a fusion needs, against what the machine has available now."""

from __future__ import annotations

import numpy as np


class InsufficientMemoryError(MemoryError, ValueError):
    """A problem too large for the memory available (raised before any work starts)."""


# images of one channel's size that each solver holds while it runs (its work arrays,
# the hierarchy's coarse levels included), and the primal-dual prox's state on top; the
# result adds u (and v) of every channel
WORK_IMAGES = {"bcd": 12.0, "ipiano": 11.0}
PROX_IMAGES = 8.0


def available_memory():
    """Bytes of memory available to this process now (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(shape, dtype, solver="bcd", *, prox=False, return_v=True, workers=1):
    """Bytes that :func:`fuse` needs beyond its inputs for an H x W (x C) problem
    (``prox``: the v-block runs the primal-dual prox; ``workers``: channels solved side
    by side, each with its own work arrays)."""
    h, w = shape[:2]
    channels = shape[2] if len(shape) == 3 else 1
    item = np.dtype(dtype).itemsize
    work = WORK_IMAGES[solver] + (PROX_IMAGES if prox else 0.0)
    return int(h * w * item * (work * workers + (1 + bool(return_v)) * channels))


def fits(shape, dtype, solver, prox, return_v, workers):
    """Whether ``workers`` channels side by side fit in the memory available now."""
    have = available_memory()
    return have is None or memory_needed(shape, dtype, solver, prox=prox,
                                         return_v=return_v, workers=workers) <= have


def check_memory(shape, dtype, solver, prox, return_v):
    need = memory_needed(shape, dtype, solver, prox=prox, return_v=return_v)
    have = available_memory()
    if have is not None and need > have:
        hint = ""
        if np.dtype(dtype) == np.float64:
            small = memory_needed(shape, np.float32, solver, prox=prox,
                                  return_v=return_v) / 1e9
            hint = f"; dtype=float32 needs about {small:.1f} GB"
        raise InsufficientMemoryError(
            f"memory: a {' x '.join(map(str, shape))} problem needs about {need / 1e9:.1f} GB "
            f"with solver {solver!r} in {np.dtype(dtype).name}, and {have / 1e9:.1f} GB "
            f"are available{hint}")
