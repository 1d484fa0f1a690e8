"""Reductions of the per-row partial sums that every kernel leaves in ``partial``."""

import math

from numba import njit

from ._types import JIT


@njit(**JIT)
def row_min(x):
    """min_j x[j] of one row, as float64."""
    m = math.inf
    for j in range(x.shape[0]):
        m = min(m, x[j])
    return m


@njit(**JIT)
def column_min(partial, k):
    """min_i partial[i, k]."""
    m = math.inf
    for i in range(partial.shape[0]):
        m = min(m, partial[i, k])
    return m


@njit(**JIT)
def column_sum(partial, k):
    """sum_i partial[i, k]: the rows' float64 sums, combined in one fixed order.

    Each row's sum is computed by one thread, so the total does not depend on how many
    threads ran the pass.
    """
    acc = 0.0
    for i in range(partial.shape[0]):
        acc += partial[i, k]
    return acc
