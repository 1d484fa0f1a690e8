"""Forward-difference gradient with Neumann boundary and its adjoint (docs/model.md 2).

``g1[i, j] = x[i+1, j] - x[i, j]`` (0 on the last row), ``g2[i, j] = x[i, j+1] - x[i, j]``
(0 on the last column); ``grad^T p = -div p`` with ``p1`` read as 0 on the last and the
virtual row -1, ``p2`` likewise on columns, so that ``<grad x, p> = <x, grad^T p>``.
The fused kernels inline these stencils; the stand-alone versions serve the tests and
the one-off dual initialisation ``y = grad vd`` of the primal-dual loop.
"""

from numba import prange, types

from ._types import kernel


@kernel(lambda A, F: types.void(A, A, A), parallel=True)
def grad(x, g1, g2):
    """Write ``grad x`` into ``(g1, g2)``."""
    h, w = x.shape
    zero = x.dtype.type(0)
    for i in prange(h):
        dn = x[min(i + 1, h - 1)]
        xc = x[i]
        for j in range(w - 1):
            g1[i, j] = dn[j] - xc[j]
            g2[i, j] = xc[j + 1] - xc[j]
        g1[i, w - 1] = dn[w - 1] - xc[w - 1]
        g2[i, w - 1] = zero


@kernel(lambda A, F: types.void(A, A, A), parallel=True)
def grad_t(p1, p2, out):
    """Write ``grad^T p = -div p`` into ``out``."""
    h, w = out.shape
    zero = out.dtype.type(0)
    for i in prange(h):
        # p1 on the last row is read as 0, and the virtual row above row 0 is 0
        last = i == h - 1
        for j in range(w):
            here1 = zero if last else p1[i, j]
            up1 = p1[i - 1, j] if i > 0 else zero
            here2 = p2[i, j] if j < w - 1 else zero
            left2 = p2[i, j - 1] if j > 0 else zero
            out[i, j] = -(here1 - up1) - (here2 - left2)
