"""NumPy / scipy.sparse port of the authors' reference algorithm (scheme "paper").

This is the benchmark peer of the fused Numba kernels: the block iPiano of
``shared/spec/MODEL.md`` section 5 with every deviation of section 6, written the way a
competent NumPy user would write the authors' MATLAB code (Parisotto et al., IEEE TIP
2020): vectorised NumPy on flat images, forward-difference gradient matrices D1, D2 as
scipy.sparse CSR with Neumann boundary, ``grad^T = D^T``, and the osmosis matrix ``A``
assembled as a sparse matrix from the half-grid drifts of ``v`` once per iPiano
iteration. It is neither deliberately slow nor micro-optimised, and it is also the
reference the package's own ``scheme="paper"`` is checked against.

Images are flattened in C order (index ``i * W + j``): ``D1`` differences along axis 0
(rows), ``D2`` along axis 1 (columns).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

__all__ = ["fuse_paper_scipy"]

# Block iPiano constants of docs/model.md section 5 (the authors' runme_tvosmosis.m).
BETA1 = BETA2 = 0.4
LAMBDA1 = 2.0  # L <- lambda1 L when a descent test fails
LAMBDA2 = 1.2  # L <- L / lambda2 when it passes
MAX_RETRIES = 60  # per block and iPiano iteration; only degenerate data get there
SLACK = 1e-10  # per pixel, subtracted in both descent tests (docs/model.md 6.3)


def _forward_difference(n):
    """n x n forward difference with Neumann boundary (last row zero), CSR."""
    main = -np.ones(n)
    main[-1] = 0.0
    return sp.diags([main, np.ones(n - 1)], [0, 1], shape=(n, n), format="csr")


def _half_sum_matrices(n):
    """Averages (x[i] + x[i+1]) / 2 ("up") and (x[i-1] + x[i]) / 2 ("low"), n x n.

    The missing neighbour at the ends only ever meets a zero drift.
    """
    half, half1 = np.full(n, 0.5), np.full(n - 1, 0.5)
    up = sp.diags([half, half1], [0, 1], shape=(n, n), format="csr")
    low = sp.diags([half1, half], [-1, 0], shape=(n, n), format="csr")
    return up, low


class _Operators:
    """The sparse matrices of an H x W grid, built once per call."""

    def __init__(self, shape):
        h, w = shape
        self.shape = shape
        self.n = h * w
        eye_h, eye_w = sp.identity(h, format="csr"), sp.identity(w, format="csr")
        d1 = sp.kron(_forward_difference(h), eye_w, format="csr")
        d2 = sp.kron(eye_h, _forward_difference(w), format="csr")
        # grad x = D x stacks both components (length 2N); grad^T p = D^T p.
        self.D = sp.vstack([d1, d2], format="csr")
        self.DT = self.D.T.tocsr()
        # The two Laplacian halves D1^T D1, D2^T D2 of the osmosis matrix.
        self.lap1 = (d1.T @ d1).tocsr()
        self.lap2 = (d2.T @ d2).tocsr()
        up, low = _half_sum_matrices(h)
        self.m1up = sp.kron(up, eye_w, format="csr")
        self.m1low = sp.kron(low, eye_w, format="csr")
        up, low = _half_sum_matrices(w)
        self.m2up = sp.kron(eye_h, up, format="csr")
        self.m2low = sp.kron(eye_h, low, format="csr")

    def grad(self, x):
        """Both forward-difference components of flat ``x``, each of length N."""
        g = self.D @ x
        return g[: self.n], g[self.n :]

    def grad_t(self, p1, p2):
        """``grad^T (p1, p2) = -div p``."""
        return self.DT @ np.concatenate((p1, p2))

    def osmosis_matrix(self, v):
        """Osmosis matrix of docs/model.md 6.1 (Vogel et al.) from the drifts of ``v``.

        ``(A u)[i,j] = (grad^T grad u)[i,j] + d1[i+1/2,j] (u[i+1,j] + u[i,j]) / 2
        - d1[i-1/2,j] (u[i,j] + u[i-1,j]) / 2 + (same along j)`` with
        ``d1[i+1/2,j] = 2 (v[i+1,j] - v[i,j]) / (v[i+1,j] + v[i,j])``, zero beyond the
        first and last rows.
        """
        h, w = self.shape
        v2 = v.reshape(h, w)
        d1 = np.zeros((h + 1, w))
        d1[1:h] = np.diff(v2, axis=0) / (v2[1:] + v2[:-1]) * 2
        d2 = np.zeros((h, w + 1))
        d2[:, 1:w] = np.diff(v2, axis=1) / (v2[:, 1:] + v2[:, :-1]) * 2
        a1 = self.lap1 + (
            sp.diags(d1[1:].ravel()) @ self.m1up - sp.diags(d1[:-1].ravel()) @ self.m1low
        )
        a2 = self.lap2 + (
            sp.diags(d2[:, 1:].ravel()) @ self.m2up - sp.diags(d2[:, :-1].ravel()) @ self.m2low
        )
        return (a1 + a2).tocsr()


def _huber(t, eps):
    """``H_eps(t) = t^2 / (2 eps)`` for ``t < eps``, ``t - eps / 2`` otherwise."""
    return np.where(t < eps, t * t / (2 * eps), t - eps / 2)


def _prox_huber_tv_paper(ops, vd, a2, eta, eps, tol, max_iter):
    """Accelerated Chambolle-Pock for ``min_p eta H(|grad p|) + ||p - vd||^2 / (2 a2)``.

    docs/model.md 5.1 with the paper scheme's deviations: the dual step divides by
    ``1 + sigma * eps`` (6.4) and ``y`` restarts from ``grad vd`` (6.5). Returns the
    primal ``x``, the number of iterations and the last residual.
    """
    n = ops.n
    tau = 0.99 / 8
    sigma = 0.99 / (tau * 8)
    g = 0.5 / a2
    theta = 1.0
    x = vd
    xbar = vd
    y = ops.D @ vd
    dty = ops.DT @ y
    vd_a2 = vd / a2
    res = np.inf
    it = 0
    while it < max_iter:
        it += 1
        dx = ops.D @ x
        dxbar = ops.D @ xbar
        z = (y + sigma * dxbar) / (1 + sigma * eps)
        scale = np.maximum(1.0, np.sqrt(z[:n] ** 2 + z[n:] ** 2) / eta)
        y_new = z / np.concatenate((scale, scale))
        dty_new = ops.DT @ y_new
        x_new = (vd_a2 + (x - tau * dty_new) / tau) / (1 / a2 + 1 / tau)
        xbar = x_new + theta * (x_new - x)  # extrapolates with the previous theta
        theta = 1 / np.sqrt(1 + 2 * g * tau)
        tau = theta * tau
        sigma = sigma / theta
        res = (
            np.abs((x - x_new) / tau - (dty - dty_new)).sum()
            + np.abs((y - y_new) / sigma - (dx - dxbar)).sum()
        ) / n
        x, y, dty = x_new, y_new, dty_new
        if res < tol:
            break
    return x, it, res


def fuse_paper_scipy(
    f,
    b,
    alpha,
    *,
    eta,
    mu,
    gamma,
    epsilon,
    osm=1.0,
    init="foreground",
    tol=1e-6,
    max_iter=10000,
    pd_tol=1e-4,
    pd_max_iter=10000,
    offset=1.0,
    log=None,
):
    """Fuse one channel with the authors' reference algorithm (scheme "paper").

    Minimises, by block iPiano with backtracking (docs/model.md 5 and 6),

    ``E(u, v) = sum (osm/2) v |grad(u/v)|^2 + (mu/2)(v - w)^2
    + (gamma/2) alpha (u - f)^2 + eta H_eps(|grad v|)``,  ``w = f^alpha b^(1-alpha)``,

    after ``f <- f + offset``, ``b <- b + offset``.

    Parameters
    ----------
    f, b : (H, W) array_like
        Foreground and background channel, values in [0, 1].
    alpha : (H, W) array_like
        Blending map in [0, 1].
    eta, mu, gamma, epsilon, osm : float
        Huber-TV weight, fidelity of v, fidelity of u, Huber parameter, osmosis weight.
    init : {"foreground", "blend", "mean"}
        Initial u; v starts at w.
    tol, max_iter : float, int
        Stop when ``|E_n - E_{n-1}| / |E_{n-1}| < tol`` and ``n >= 5``, or at max_iter.
    pd_tol, pd_max_iter : float, int
        Stopping rule of the primal-dual prox of the v-block.
    offset : float
        Positivity offset added to f and b; it stays in the returned u and v.
    log : callable, optional
        Called with one line per iteration in the format of the authors' log
        (``log=print`` prints it).

    Returns
    -------
    dict
        ``u``, ``v`` ((H, W), offset included); per iteration ``energies`` (E after
        it), ``pd_iterations`` (all primal-dual iterations, backtracking retries
        included), ``pd_accepted`` (those of the accepted v-call only, as in the
        published log), ``pd_calls`` (the count of every v-call, a list), ``L1``,
        ``L2`` (the constants the accepted steps were taken with, the published
        log's ``lambda2 * L`` columns); ``iterations``,
        ``iteration_seconds`` (wall time of each iteration, energy included),
        ``seconds`` (wall time of the whole call), ``stop_reason``.
    """
    t0 = time.perf_counter()
    f = np.asarray(f, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    if f.ndim != 2 or f.shape != b.shape or f.shape != alpha.shape:
        raise ValueError("f, b and alpha must be 2-D arrays of the same shape")
    shape = f.shape
    ops = _Operators(shape)

    f = (f + offset).ravel()
    b = (b + offset).ravel()
    alpha = alpha.ravel()
    w = f**alpha * b ** (1 - alpha)
    if init == "foreground":
        u = f.copy()
    elif init == "blend":
        u = alpha * f + (1 - alpha) * b
    elif init == "mean":
        m_f = np.sum(alpha * f) / np.sum(alpha)
        m_b = np.sum((1 - alpha) * b) / np.sum(1 - alpha)
        u = alpha * m_f + (1 - alpha) * m_b
    else:
        raise ValueError(f"unknown init {init!r}")
    v = w.copy()

    def smooth(u, v):
        """Per-pixel smooth part S: osmosis term + fidelity of v."""
        r1, r2 = ops.grad(u / v)
        return (osm / 2) * v * (r1**2 + r2**2) + (mu / 2) * (v - w) ** 2

    def energy(u, v):
        g1, g2 = ops.grad(v)
        huber = eta * _huber(np.sqrt(g1**2 + g2**2), epsilon)
        return np.sum(huber + smooth(u, v) + (gamma / 2) * alpha * (u - f) ** 2)

    def grad_v_paper(u, v):
        """Term-by-term v-gradient of docs/model.md 6.2 (``v grad^T`` in the last term)."""
        gu1, gu2 = ops.grad(u)
        gv1, gv2 = ops.grad(v)
        c3 = 2 * (u / v**2)
        c5 = u**2 / v**3
        terms = (
            -(gu1**2 + gu2**2) / v**2
            + (4 * u / v**3) * (gu1 * gv1 + gu2 * gv2)
            - ops.grad_t(c3 * gu1, c3 * gu2)
            - 3 * u**2 / v**4 * (gv1**2 + gv2**2)
            + v * ops.grad_t(c5 * gv1, c5 * gv2)
        )
        return (osm / 2) * terms + mu * (v - w)

    def prox_v(vd, a2):
        if eta == 0:  # no regulariser: the prox is the identity
            return vd, 0, 0.0
        return _prox_huber_tv_paper(ops, vd, a2, eta, epsilon, pd_tol, pd_max_iter)

    def step(beta, lip):
        return 0.99 * (1 - 2 * beta) / lip if beta <= 0.5 else 1.99 * (1 - beta) / lip

    L1 = L2 = 1.0
    u_prev, v_prev = u, v
    e_prev = energy(u, v)
    energies, pd_iterations, pd_accepted, l1_hist, l2_hist = [], [], [], [], []
    iteration_seconds, pd_calls = [], []
    stop_reason = "max_iter"

    for n in range(1, max_iter + 1):
        t_iter = time.perf_counter()
        a_mat = ops.osmosis_matrix(v)  # kept for the whole iteration
        au = a_mat @ u
        gu = osm * au / v
        gv = grad_v_paper(u, v)
        # Terms of the descent tests at the CURRENT (u, v): equal to the above until
        # one block is accepted, then recomputed at the new pair (docs/model.md 6.3).
        s_uv, gu_test, gv_test = smooth(u, v), gu, gv
        todo_u = todo_v = True
        fails_u = fails_v = 0
        calls = []
        pd_last = 0
        res_last = 0.0
        while todo_u or todo_v:
            a1, a2 = step(BETA1, L1), step(BETA2, L2)
            if todo_u:
                ud = u - a1 * gu + BETA1 * (u - u_prev)
                p1 = (gamma * alpha * f + ud / a1) / (gamma * alpha + 1 / a1)
                du = p1 - u
                gap_u = np.sum(smooth(p1, v) - s_uv - gu_test * du - (L1 / 2) * du**2 - SLACK)
            if todo_v:
                vd = v - a2 * gv + BETA2 * (v - v_prev)
                p2, pd_last, res_last = prox_v(vd, a2)
                calls.append(pd_last)
                dv = p2 - v
                gap_v = np.sum(smooth(u, p2) - s_uv - gv_test * dv - (L2 / 2) * dv**2 - SLACK)
            # Both gaps of this pass were taken at the same (u, v); only now do
            # the accepted blocks move.
            accepted = False
            if todo_u:
                if gap_u < 0:
                    u_prev, u = u, p1
                    l1_acc, L1 = L1, L1 / LAMBDA2
                    todo_u, accepted = False, True
                else:
                    L1 *= LAMBDA1
                    fails_u += 1
            if todo_v:
                if gap_v < 0:
                    v_prev, v = v, p2
                    l2_acc, L2 = L2, L2 / LAMBDA2
                    todo_v, accepted = False, True
                else:
                    L2 *= LAMBDA1
                    fails_v += 1
            if max(fails_u, fails_v) > MAX_RETRIES:
                stop_reason = "backtracking failed"
                break
            if accepted and (todo_u or todo_v):
                s_uv = smooth(u, v)
                if todo_u:  # only v changed: A u stays, the division by v does not
                    gu_test = osm * au / v
                else:
                    gv_test = grad_v_paper(u, v)
        if stop_reason != "max_iter":
            break

        e = energy(u, v)
        diff = abs(e - e_prev) / abs(e_prev) if e_prev != 0 else 0.0
        energies.append(e)
        pd_iterations.append(sum(calls))
        pd_calls.append(calls)
        pd_accepted.append(pd_last)
        l1_hist.append(l1_acc)
        l2_hist.append(l2_acc)
        iteration_seconds.append(time.perf_counter() - t_iter)
        if log is not None:
            log(
                f"   {n:03d}   | ({l1_acc:2.2e} | {l2_acc:2.2e}) | {e:2.4e} | {diff:2.2e} "
                f"| {res_last:2.2e} ({pd_last})"
            )
        if e_prev == 0:
            stop_reason = "zero energy"
            break
        if diff < tol and n >= 5:
            stop_reason = "converged"
            break
        e_prev = e

    return {
        "u": u.reshape(shape),
        "v": v.reshape(shape),
        "energies": np.array(energies),
        "pd_iterations": np.array(pd_iterations, dtype=np.int64),
        "pd_accepted": np.array(pd_accepted, dtype=np.int64),
        "pd_calls": pd_calls,
        "L1": np.array(l1_hist),
        "L2": np.array(l2_hist),
        "iterations": len(energies),
        "seconds": time.perf_counter() - t0,
        "iteration_seconds": np.array(iteration_seconds),
        "stop_reason": stop_reason,
    }
