"""Stationarity of a result: how close (u, v) is to a critical point of the exact energy.

Per channel, ``||(dE/du, dE/dv)||_2`` over all pixels at the result divided by the same at
the start (u0, v0) (docs/model.md 8). E is C^1 (Huber is differentiable), so

    dE/du = dS/du + gamma alpha (u - f)
    dE/dv = dS/dv + eta grad^T(grad v / max(eps, |grad v|))    (Huber-TV)
          = dS/dv + eta grad^T grad v                          (Tikhonov)
"""

import numpy as np

from fastosmosis._problem import channel_problem
from fastosmosis.validation import prepare
from tests import reference as R


def energy_gradient_norm(u, v, f, w, alpha, *, eta, mu, gamma, epsilon, osm=1.0,
                         regularizer="huber-tv"):
    """||(dE/du, dE/dv)||_2 for one channel, offset included in every argument."""
    gu, gv, _ = R.smooth_gradient(u, v, w, osm, mu)
    gu = gu + gamma * alpha * (u - f)
    kind = R.TIKHONOV if regularizer == "tikhonov" else R.HUBER
    gv = gv + eta * R.regularizer_gradient(v, kind, epsilon)
    return float(np.sqrt(np.sum(gu**2) + np.sum(gv**2)))


def stationarity(u, v, foreground, background, alpha, *, eta, mu, gamma, epsilon,
                 osm=1.0, init="foreground", alpha_blur=None, offset=1.0,
                 regularizer="huber-tv"):
    """Per channel, the joint gradient norm at (u, v) over the same at (u0, v0)."""
    fi, bi, ai, shape = prepare(foreground, background, alpha)
    us = np.asarray(u, np.float64).reshape(shape)
    vs = np.asarray(v, np.float64).reshape(shape)
    if us.ndim == 2:
        us, vs = us[..., None], vs[..., None]
    kw = dict(eta=eta, mu=mu, gamma=gamma, epsilon=epsilon, osm=osm,
              regularizer=regularizer)
    ratios = []
    for c in range(fi.channels):
        f, a, w, u0, v0 = channel_problem(fi, bi, ai, c, init=init, offset=offset,
                                              alpha_blur=alpha_blur, dtype=np.float64)
        start = energy_gradient_norm(u0, v0, f, w, a, **kw)
        end = energy_gradient_norm(us[..., c] + offset, vs[..., c] + offset, f, w, a, **kw)
        ratios.append(end / start)
    return ratios
