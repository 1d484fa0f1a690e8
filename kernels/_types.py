"""Eager signatures: every kernel compiles exactly twice, for float32 and float64.

Images are C-contiguous 2-D arrays of one float type; scalars passed with them are
converted to that type at the call (so float32 arithmetic stays float32); sums are
accumulated in float64 in per-row buffers ``partial`` of shape (H, k); the primal-dual
residual's row sums, a stopping test only, in the image's type (8 float32 lanes, not 4).
"""

from numba import float32, float64, int64, types

# Compiler options of every kernel, in one place.
# error_model="numpy": a division by zero gives inf/nan instead of raising, which takes
# the check (and its branch) out of the inner loops so that they vectorise.
# fastmath "reassoc" only: lets the per-row float64 sums vectorise (their order then
# depends on the vector width, not on the thread count); never the full fast-math set,
# whose nnan/ninf flags would turn NaN checks into no-ops.
FASTMATH = {"reassoc"}
JIT = dict(cache=True, error_model="numpy", fastmath=FASTMATH)

FLOATS = (float32, float64)
PARTIAL = types.Array(float64, 2, "C")
INT = int64


def image(ftype):
    return types.Array(ftype, 2, "C")


def row(ftype):
    return types.Array(ftype, 1, "C")


def both(build):
    """``[build(A, F) for F in (float32, float64)]`` with ``A`` the 2-D array type."""
    return [build(image(f), f) for f in FLOATS]


def tuple_of(n):
    return types.UniTuple(float64, n)
