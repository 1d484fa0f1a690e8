"""The energy of docs/model.md 3 in one pass (what the API's ``energy`` evaluates).

    E = sum (osm/2) v |grad(u/v)|^2 + (mu/2)(v - w)^2 + (gamma/2) alpha (u - f)^2
            + eta H_eps(|grad v|),
    H_eps(t) = t^2 / (2 eps) for t < eps, t - eps/2 otherwise.
"""

from numba import njit, prange, types

from ._reduce import column_sum
from ._types import JIT, PARTIAL, kernel, tuple_of
from .osmosis import smooth_row
from .regularizer import reg_value


@njit(**JIT)
def regularizer_row(vc, vd, kind, eps):
    """sum_j R(v) on one row (Huber-TV or Tikhonov), float64; ``vd`` the row below."""
    acc = 0.0
    wd = vc.shape[0]
    for j in range(wd):
        g1 = vd[j] - vc[j]
        g2 = (vc[j + 1] - vc[j]) if j < wd - 1 else vc[j] - vc[j]
        acc += reg_value(g1, g2, kind, eps)
    return acc


@kernel(lambda A, F: tuple_of(4)(A, A, A, A, A, F, F, F, F, types.int64, PARTIAL), parallel=True)
def energy_terms(u, v, w, f, alpha, osm, mu, gamma, eps, kind, partial):
    """(osmosis, mu fidelity, gamma fidelity, regulariser sum without eta) in one pass.

    ``kind``: ``regularizer.HUBER`` (H_eps(|grad v|)) or ``regularizer.TIKHONOV``
    (|grad v|^2 / 2). The regulariser is returned without the factor eta so that the
    caller can weigh it, and so that eta = 0 still reports the term's value.
    """
    h, wd = u.shape
    half = u.dtype.type(0.5)
    ho, hm, hg = half * osm, half * mu, half * gamma
    for i in prange(h):
        dn = min(i + 1, h - 1)
        so, sm = smooth_row(u[i], v[i], u[dn], v[dn], w[i], ho, hm)
        sg = 0.0
        for j in range(wd):
            e = u[i, j] - f[i, j]
            sg += hg * alpha[i, j] * e * e
        partial[i, 0] = so
        partial[i, 1] = sm
        partial[i, 2] = sg
        partial[i, 3] = regularizer_row(v[i], v[dn], kind, eps)
    return (column_sum(partial, 0), column_sum(partial, 1), column_sum(partial, 2),
            column_sum(partial, 3))
