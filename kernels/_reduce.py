"""Reductions of the per-row partial sums that every kernel leaves in ``partial``."""

from numba import njit

from ._types import JIT


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
