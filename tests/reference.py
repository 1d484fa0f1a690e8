"""Plain-NumPy references for every kernel: obviously correct, vectorised, slow.

Written from ../shared/spec/MODEL.md alone, whole-array operations only, so that each
fused kernel of ``fastosmosis.kernels`` can be checked against it. Sums in float64.
"""

import numpy as np

BETA, LAMBDA_UP, LAMBDA_DOWN = 0.4, 2.0, 1.2


def grad(x):
    """Forward differences with Neumann boundary (docs/model.md 2)."""
    g1 = np.zeros_like(x)
    g2 = np.zeros_like(x)
    g1[:-1, :] = x[1:, :] - x[:-1, :]
    g2[:, :-1] = x[:, 1:] - x[:, :-1]
    return g1, g2


def grad_t(p1, p2):
    """Adjoint of ``grad``: ``-div p`` with p1's last row and p2's last column read as 0."""
    P1 = p1.copy()
    P1[-1, :] = 0
    P2 = p2.copy()
    P2[:, -1] = 0
    out = -P1 - P2
    out[1:, :] += P1[:-1, :]
    out[:, 1:] += P2[:, :-1]
    return out


def smooth_value(u, v, w, osm, mu):
    """(osmosis part, mu part) of S(u, v)."""
    g1, g2 = grad(u / v)
    osmosis = np.sum(0.5 * osm * v * (g1**2 + g2**2), dtype=np.float64)
    return osmosis, np.sum(0.5 * mu * (v - w) ** 2, dtype=np.float64)


def smooth_gradient(u, v, w, osm, mu):
    """(dS/du, dS/dv, S) of docs/model.md 4."""
    r = u / v
    g1, g2 = grad(r)
    q = grad_t(v * g1, v * g2)
    gu = osm * q / v
    gv = osm * (0.5 * (g1**2 + g2**2) - r * q / v) + mu * (v - w)
    return gu, gv, sum(smooth_value(u, v, w, osm, mu))


def u_step_prox(u, u_prev, gu, f, alpha, a1, beta1, gamma):
    ud = u - a1 * gu + beta1 * (u - u_prev)
    return (gamma * alpha * f + ud / a1) / (gamma * alpha + 1 / a1)


def v_step(v, v_prev, gv, a2, beta2):
    return v - a2 * gv + beta2 * (v - v_prev)


def huber(t, eps):
    return np.where(t < eps, t**2 / (2 * eps), t - eps / 2)


TIKHONOV, HUBER = 1, 2


def regularizer(v, kind, eps):
    """sum R(v): Huber-TV H_eps(|grad v|) or Tikhonov |grad v|^2 / 2."""
    g1, g2 = grad(v)
    if kind == TIKHONOV:
        return np.sum(0.5 * (g1**2 + g2**2), dtype=np.float64)
    return np.sum(huber(np.sqrt(g1**2 + g2**2), eps), dtype=np.float64)


def regularizer_gradient(v, kind, eps):
    """grad R(v): grad^T grad v, or grad^T(grad v / max(eps, |grad v|))."""
    g1, g2 = grad(v)
    if kind == TIKHONOV:
        return grad_t(g1, g2)
    m = np.maximum(eps, np.sqrt(g1**2 + g2**2))
    return grad_t(g1 / m, g2 / m)


def energy_terms(u, v, w, f, alpha, osm, mu, gamma, eps, kind=HUBER):
    """(osmosis, mu fidelity, gamma fidelity, regulariser sum without eta)."""
    so, sm = smooth_value(u, v, w, osm, mu)
    sg = np.sum(0.5 * gamma * alpha * (u - f) ** 2, dtype=np.float64)
    return so, sm, sg, regularizer(v, kind, eps)


def energy(u, v, w, f, alpha, *, osm, mu, gamma, eps, eta, kind=HUBER):
    t = energy_terms(u, v, w, f, alpha, osm, mu, gamma, eps, kind)
    return t[0] + t[1] + t[2] + eta * t[3]


def gradient_energy(u, v, w, f, alpha, osm, mu, gamma, eta, eta_g, eps, kind):
    """(gu, gv, (S osmosis, S mu, gamma fidelity, R(v), ||grad E||^2)).

    gv includes ``eta_g`` times the regulariser's gradient (0 when R goes by its prox);
    grad E = (gu + gamma alpha (u - f), dS/dv + eta grad R).
    """
    gu, gs, _ = smooth_gradient(u, v, w, osm, mu)
    gr = regularizer_gradient(v, kind, eps)
    so, sm, sg, r = energy_terms(u, v, w, f, alpha, osm, mu, gamma, eps, kind)
    gn = np.sum((gu + gamma * alpha * (u - f)) ** 2) + np.sum((gs + eta * gr) ** 2)
    return gu, gs + eta_g * gr, (so, sm, sg, r, gn)


def descent_pair(p1, p2, u, v, w, gu, gv, osm, mu, eps, kind):
    """Both descent tests' quantities; R(p2) is 0 when ``kind`` is 0."""
    su, ipu, squ = descent_terms(p1, v, w, osm, mu, gu, p1, u)
    sv, ipv, sqv = descent_terms(u, p2, w, osm, mu, gv, p2, v)
    return su, ipu, squ, sv, ipv, sqv, regularizer(p2, kind, eps) if kind else 0.0


# ------------------------------------------------------------------ paper scheme
def osmosis_matrix(v):
    """The osmosis matrix A of docs/model.md 6 item 1, assembled explicitly (scipy.sparse).

    Row p of A u: sum over the 4 neighbours q of (u_p - u_q) plus, for each half-grid
    edge, the drift d = 2 (v_next - v_this) / (v_next + v_this) times the edge average.
    """
    import scipy.sparse as sp

    h, w = v.shape
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []

    def add(r, c, x):
        rows.append(r.ravel())
        cols.append(c.ravel())
        vals.append(np.broadcast_to(x, r.shape).ravel())

    for axis in (0, 1):
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        p, q = idx[lo], idx[hi]  # edge from p (lower index) to q
        d = 2 * (v[hi] - v[lo]) / (v[hi] + v[lo])
        # Laplacian part: (u_p - u_q) at p, (u_q - u_p) at q
        add(p, p, 1.0)
        add(p, q, -1.0)
        add(q, q, 1.0)
        add(q, p, -1.0)
        # at p the edge is p's "+1/2" edge: + d (u_q + u_p) / 2
        add(p, p, d / 2)
        add(p, q, d / 2)
        # at q it is q's "-1/2" edge: - d (u_q + u_p) / 2
        add(q, q, -d / 2)
        add(q, p, -d / 2)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                 np.concatenate(cols))), shape=(h * w,) * 2)


def paper_gu(u, v, va, osm):
    """osm (A u) / v with A built from ``va``."""
    return osm * (osmosis_matrix(va) @ u.ravel()).reshape(u.shape) / v


def paper_gv(u, v, w, osm, mu):
    """The term-by-term v-gradient of docs/model.md 6 item 2."""
    gu1, gu2 = grad(u)
    gv1, gv2 = grad(v)
    t = (-(gu1**2 + gu2**2) / v**2 + 4 * u / v**3 * (gu1 * gv1 + gu2 * gv2)
         - grad_t(2 * u / v**2 * gu1, 2 * u / v**2 * gu2)
         - 3 * u**2 / v**4 * (gv1**2 + gv2**2)
         + v * grad_t(u**2 / v**3 * gv1, u**2 / v**3 * gv2))
    return 0.5 * osm * t + mu * (v - w)


def paper_u_test(p1, u, v, va, w, osm, mu):
    d = p1 - u
    return (sum(smooth_value(p1, v, w, osm, mu)), sum(smooth_value(u, v, w, osm, mu)),
            np.sum(paper_gu(u, v, va, osm) * d), np.sum(d * d))


def paper_v_test(u, v, p2, w, osm, mu):
    d = p2 - v
    return (sum(smooth_value(u, p2, w, osm, mu)), sum(smooth_value(u, v, w, osm, mu)),
            np.sum(paper_gv(u, v, w, osm, mu) * d), np.sum(d * d))


def descent_terms(pu, pv, w, osm, mu, g, x_new, x_old):
    d = x_new - x_old
    return (sum(smooth_value(pu, pv, w, osm, mu)), np.sum(g * d, dtype=np.float64),
            np.sum(d * d, dtype=np.float64))


def pd_iteration(vd, x, xb, y1, y2, a2, tau, sigma, theta, tau_next, sigma_next, kappa, eta):
    """One primal-dual iteration of docs/model.md 5.1; returns (x, xbar, y1, y2, residual)."""
    gb1, gb2 = grad(xb)
    z1 = (y1 + sigma * gb1) / (1 + sigma * kappa)
    z2 = (y2 + sigma * gb2) / (1 + sigma * kappa)
    s = np.maximum(1, np.sqrt(z1**2 + z2**2) / eta)
    n1, n2 = z1 / s, z2 / s
    xn = (vd / a2 + (x - tau * grad_t(n1, n2)) / tau) / (1 / a2 + 1 / tau)
    xbn = xn + theta * (xn - x)
    gx1, gx2 = grad(x)
    res = (np.sum(np.abs((x - xn) / tau_next - (grad_t(y1, y2) - grad_t(n1, n2))))
           + np.sum(np.abs((y1 - n1) / sigma_next - (gx1 - gb1)))
           + np.sum(np.abs((y2 - n2) / sigma_next - (gx2 - gb2)))) / x.size
    return xn, xbn, n1, n2, res


def huber_prox(vd, a2, eta, kappa, pd_tol, pd_max_iter, y=None, record=None):
    """Primal-dual loop from ``y`` (default grad vd); returns (x, (y1, y2), iterations).

    ``record``: a list that receives each iteration's residual."""
    y1, y2 = grad(vd) if y is None else y
    x = xb = vd
    tau = 0.99 / 8
    sigma = 0.99 / (tau * 8)
    g = 0.5 / a2
    theta = 1.0
    it = 0
    while it < pd_max_iter:
        it += 1
        theta_n = 1 / np.sqrt(1 + 2 * g * tau)
        tau_n, sigma_n = theta_n * tau, sigma / theta_n
        x, xb, y1, y2, res = pd_iteration(vd, x, xb, y1, y2, a2, tau, sigma, theta,
                                          tau_n, sigma_n, kappa, eta)
        theta, tau, sigma = theta_n, tau_n, sigma_n
        if record is not None:
            record.append(res)
        if res < pd_tol:
            break
    return x, (y1, y2), it


def step_size(beta, lipschitz):
    return 0.99 * (1 - 2 * beta) / lipschitz


def ipiano(f, b, alpha, *, eta, mu, gamma, eps, osm=1.0, max_iter=30, tol=0.0,
           pd_tol=1e-4, pd_max_iter=10000, warm_start=True, u0=None, scheme="exact"):
    """Block iPiano of docs/model.md 5 on one channel, offset already added.

    ``scheme="paper"``: the variants of docs/model.md 6 (gradients, tests at the current
    (u, v) on every pass with a 1e-10 N slack, dual step with 1 + sigma eps).
    Returns (u, v, energies, pd_iterations).
    """
    if scheme == "paper":
        return _ipiano_paper(f, b, alpha, eta=eta, mu=mu, gamma=gamma, eps=eps, osm=osm,
                             max_iter=max_iter, tol=tol, pd_tol=pd_tol,
                             pd_max_iter=pd_max_iter)
    w = f**alpha * b ** (1 - alpha)
    u = f.copy() if u0 is None else u0.copy()
    v = w.copy()
    u_prev, v_prev = u.copy(), v.copy()
    L1 = L2 = 1.0
    y = None
    energies, pd_counts = [], []
    e_prev = energy(u, v, w, f, alpha, osm=osm, mu=mu, gamma=gamma, eps=eps, eta=eta)
    for n in range(1, max_iter + 1):
        gu, gv, s0 = smooth_gradient(u, v, w, osm, mu)
        p1 = p2 = None
        pd = 0
        while p1 is None or p2 is None:
            if p1 is None:
                a1 = step_size(BETA, L1)
                c = u_step_prox(u, u_prev, gu, f, alpha, a1, BETA, gamma)
                s, ip, sq = descent_terms(c, v, w, osm, mu, gu, c, u)
                if s - s0 - ip - L1 / 2 * sq <= 0:
                    p1, L1 = c, L1 / LAMBDA_DOWN
                else:
                    L1 *= LAMBDA_UP
            if p2 is None:
                a2 = step_size(BETA, L2)
                vd = v_step(v, v_prev, gv, a2, BETA)
                if eta > 0:
                    c, y_end, k = huber_prox(vd, a2, eta, eps / eta, pd_tol, pd_max_iter,
                                             y if warm_start else None)
                    y = y_end
                    pd += k
                else:
                    c = vd
                s, ip, sq = descent_terms(u, c, w, osm, mu, gv, c, v)
                if s - s0 - ip - L2 / 2 * sq <= 0:
                    p2, L2 = c, L2 / LAMBDA_DOWN
                else:
                    L2 *= LAMBDA_UP
        u_prev, u, v_prev, v = u, p1, v, p2
        e = energy(u, v, w, f, alpha, osm=osm, mu=mu, gamma=gamma, eps=eps, eta=eta)
        energies.append(e)
        pd_counts.append(pd)
        if n >= 5 and abs(e - e_prev) < tol * abs(e_prev):
            break
        e_prev = e
    return u, v, np.array(energies), np.array(pd_counts)


def _ipiano_paper(f, b, alpha, *, eta, mu, gamma, eps, osm, max_iter, tol, pd_tol,
                  pd_max_iter):
    w = f**alpha * b ** (1 - alpha)
    u, v = f.copy(), w.copy()
    u_prev, v_prev = u.copy(), v.copy()
    L1 = L2 = 1.0
    slack = 1e-10 * f.size
    energies, pd_counts = [], []
    e_prev = energy(u, v, w, f, alpha, osm=osm, mu=mu, gamma=gamma, eps=eps, eta=eta)
    for n in range(1, max_iter + 1):
        va = v
        gu = paper_gu(u, v, va, osm)
        gv = paper_gv(u, v, w, osm, mu)
        done_u = done_v = False
        pd = 0
        while not (done_u and done_v):
            if not done_u:
                a1 = step_size(BETA, L1)
                p1 = u_step_prox(u, u_prev, gu, f, alpha, a1, BETA, gamma)
            if not done_v:
                a2 = step_size(BETA, L2)
                vd = v_step(v, v_prev, gv, a2, BETA)
                p2, _, k = huber_prox(vd, a2, eta, eps, pd_tol, pd_max_iter)
                pd += k
            ok_u = ok_v = False
            if not done_u:
                s, s0, ip, sq = paper_u_test(p1, u, v, va, w, osm, mu)
                ok_u = s - s0 - ip - L1 / 2 * sq - slack < 0
            if not done_v:
                s, s0, ip, sq = paper_v_test(u, v, p2, w, osm, mu)
                ok_v = s - s0 - ip - L2 / 2 * sq - slack < 0
            if not done_u:
                L1 = L1 / LAMBDA_DOWN if ok_u else L1 * LAMBDA_UP
            if not done_v:
                L2 = L2 / LAMBDA_DOWN if ok_v else L2 * LAMBDA_UP
            if ok_u:
                u_prev, u, done_u = u, p1, True
            if ok_v:
                v_prev, v, done_v = v, p2, True
        e = energy(u, v, w, f, alpha, osm=osm, mu=mu, gamma=gamma, eps=eps, eta=eta)
        energies.append(e)
        pd_counts.append(pd)
        if n >= 5 and abs(e - e_prev) < tol * abs(e_prev):
            break
        e_prev = e
    return u, v, np.array(energies), np.array(pd_counts)


def psnr(a, b):
    """PSNR of two images in [0, 1] after clipping (peak 1: the 8-bit scale)."""
    mse = np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def u_block_matrix(v, alpha, osm, gamma):
    """A = osm D^T diag(v) D + gamma diag(alpha v^2) of docs/model.md 11, as a sparse matrix:
    each forward difference anchored at pixel i (both directions, inside the image)
    adds ``osm v_i (e_i - e_j)(e_i - e_j)^T`` for its neighbour j."""
    import scipy.sparse as sp

    h, w = v.shape
    idx = np.arange(h * w).reshape(h, w)
    here = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    there = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    weight = osm * np.concatenate([v[:-1, :].ravel(), v[:, :-1].ravel()])
    diag = gamma * (alpha * v * v).ravel()
    diag = diag + np.bincount(here, weight, h * w) + np.bincount(there, weight, h * w)
    rows = np.concatenate([here, there, idx.ravel()])
    cols = np.concatenate([there, here, idx.ravel()])
    return sp.csc_matrix((np.concatenate([-weight, -weight, diag]), (rows, cols)),
                         shape=(h * w, h * w))


def u_block_minimiser(u, v, f, alpha, osm, gamma):
    """argmin_u E(u, v): u = v r, A r = gamma alpha v f (SciPy's sparse direct solve);
    ``c v`` with c = <u, v> / <v, v> when A is singular (gamma = 0 or alpha = 0)."""
    from scipy.sparse.linalg import splu

    if gamma == 0 or not np.any(alpha):
        return v * (np.sum(u * v) / np.sum(v * v))
    # minimum degree on A + A^T suits a symmetric grid operator (1.5x faster than COLAMD)
    lu = splu(u_block_matrix(v, alpha, osm, gamma), permc_spec="MMD_AT_PLUS_A",
              options={"SymmetricMode": True})
    return v * lu.solve((gamma * alpha * v * f).ravel()).reshape(v.shape)


def energy_map(u, v, w, f, alpha, *, osm, mu, gamma, eps, eta, kind=HUBER):
    """E of docs/model.md 3 pixel by pixel (its sum is E)."""
    g1, g2 = grad(u / v)
    h1, h2 = grad(v)
    reg = 0.5 * (h1**2 + h2**2) if kind == TIKHONOV else huber(np.sqrt(h1**2 + h2**2), eps)
    return (0.5 * osm * v * (g1**2 + g2**2) + 0.5 * mu * (v - w) ** 2
            + 0.5 * gamma * alpha * (u - f) ** 2 + eta * reg)


def minimiser(f, w, alpha, u0, v0, *, eta, mu, gamma, eps, osm=1.0, kind=HUBER, gtol=1e-9,
              max_outer=60, v_steps=3):
    """A reference minimiser of E by block coordinate descent (docs/model.md 11), in NumPy.

    Alternates the exact u-block minimiser (``u_block_minimiser``) with ``v_steps``
    explicit gradient steps of E in v, Armijo backtracking on the per-pixel energy
    difference (L doubled on failure, divided by 1.5 after a success), until the
    stationarity (||grad E|| over the same at (u0, v0)) is at most ``gtol`` or stops
    falling. Arguments with the offset added; returns (u, v, stationarity).
    """
    model = dict(osm=osm, mu=mu, gamma=gamma, eps=eps, eta=eta, kind=kind)

    def gradients(u, v):
        gu, gv, _ = smooth_gradient(u, v, w, osm, mu)
        return gu + gamma * alpha * (u - f), gv + eta * regularizer_gradient(v, kind, eps)

    def norm(u, v):
        gu, gv = gradients(u, v)
        return float(np.sqrt(np.sum(gu**2) + np.sum(gv**2)))

    u, v = u0.copy(), v0.copy()
    g0 = norm(u, v)
    lip, best, stalled = mu, np.inf, 0
    for _ in range(max_outer):
        u = u_block_minimiser(u, v, f, alpha, osm, gamma)
        for _ in range(v_steps):
            _, gv = gradients(u, v)
            here = energy_map(u, v, w, f, alpha, **model)
            for _ in range(60):
                p = v - gv / lip
                if p.min() > 0 and np.sum(energy_map(u, p, w, f, alpha, **model) - here) \
                        <= -0.5 / lip * np.sum(gv**2):
                    v, lip = p, lip / 1.5
                    break
                lip *= 2
        s = norm(u, v) / g0
        best, stalled = (s, 0) if s < best else (best, stalled + 1)
        if s <= gtol or stalled >= 3:
            break
    return u, v, s


def minimiser_of(foreground, background, alpha, *, eta, mu, gamma, epsilon, osm=1.0,
                 alpha_blur=None, gtol=1e-9):
    """u of ``minimiser`` for a ``fuse`` problem (init "foreground", offset 1), channel by
    channel, offset removed; asserts that each channel got to stationarity 1e-7."""
    from fastosmosis._problem import channel_problem
    from fastosmosis.validation import prepare

    fi, bi, ai, shape = prepare(foreground, background, alpha)
    out = []
    for c in range(fi.channels):
        f, a, w, u0, v0 = channel_problem(fi, bi, ai, c, init="foreground", offset=1.0,
                                           alpha_blur=alpha_blur, dtype=np.float64)
        u, _, s = minimiser(f, w, a, u0, v0, eta=eta, mu=mu, gamma=gamma, eps=epsilon,
                            osm=osm, gtol=gtol)
        assert s <= 1e-7, f"reference minimiser stopped at stationarity {s:.2g}"
        out.append(u - 1.0)
    return np.stack(out, axis=-1) if len(shape) == 3 else out[0]
