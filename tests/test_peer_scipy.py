"""The benchmark peer (bench/peer_scipy.py): the authors' algorithm, ported to scipy.sparse.

It must reproduce the shared paper-scheme test vector and the published puppets log.
"""

from pathlib import Path

import numpy as np
import pytest

# bench/ is not installed: it imports from the checkout, whose root is on sys.path under
# pytest (tests/ is a package, so pytest's default "prepend" import mode inserts the first
# folder above it without an __init__.py, the repository root; ``python -m pytest`` run
# from the root adds the working directory too)
from bench._bandwidth import copy_bandwidth, copy_kernel
from bench.peer_scipy import _Operators, fuse_paper_scipy

SHARED = Path(__file__).resolve().parents[2] / "shared"
TESTVECTORS = SHARED / "testvectors"
DATA = SHARED / "data"


def test_sparse_grad_is_adjoint_and_osmosis_matrix_is_the_stencil():
    rng = np.random.default_rng(1)
    h, w = 7, 5
    ops = _Operators((h, w))
    x, p = rng.random(h * w), rng.standard_normal(2 * h * w)
    g1, g2 = ops.grad(x)
    assert np.dot(np.concatenate((g1, g2)), p) == pytest.approx(
        np.dot(x, ops.grad_t(p[: h * w], p[h * w :])), rel=1e-13
    )
    x2 = x.reshape(h, w)
    assert np.array_equal(g1.reshape(h, w)[:-1], np.diff(x2, axis=0))
    assert not g1.reshape(h, w)[-1].any() and not g2.reshape(h, w)[:, -1].any()

    # docs/model.md 6.1 written out with zero-padded half-grid drifts.
    v = 1 + rng.random((h, w))
    u = 1 + rng.random((h, w))
    d1 = np.zeros((h + 1, w))
    d1[1:h] = 2 * (v[1:] - v[:-1]) / (v[1:] + v[:-1])
    d2 = np.zeros((h, w + 1))
    d2[:, 1:w] = 2 * (v[:, 1:] - v[:, :-1]) / (v[:, 1:] + v[:, :-1])
    up = np.pad(u, 1, mode="edge")  # values beyond the edge only meet zero drifts
    lap = ops.grad_t(*ops.grad(u.ravel())).reshape(h, w)
    au = (
        lap
        + d1[1:] * (up[2:, 1:-1] + u) / 2
        - d1[:-1] * (u + up[:-2, 1:-1]) / 2
        + d2[:, 1:] * (up[1:-1, 2:] + u) / 2
        - d2[:, :-1] * (u + up[1:-1, :-2]) / 2
    )
    np.testing.assert_allclose(
        (ops.osmosis_matrix(v.ravel()) @ u.ravel()).reshape(h, w), au, rtol=0, atol=1e-13
    )


def test_matches_paper_test_vector():
    path = TESTVECTORS / "paper_24x20.npz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    d = np.load(path)
    assert str(d["scheme"]) == "paper" and not bool(d["warm_start"])
    # f and b are stored with the offset already added, so none is added here.
    r = fuse_paper_scipy(
        d["f"],
        d["b"],
        d["alpha"],
        eta=float(d["eta"]),
        mu=float(d["mu"]),
        gamma=float(d["gamma"]),
        epsilon=float(d["epsilon"]),
        osm=float(d["osm"]),
        init=str(d["init"]),
        tol=float(d["tol"]),
        max_iter=int(d["max_iter"]),
        pd_tol=float(d["pd_tol"]),
        pd_max_iter=int(d["pd_max_iter"]),
        offset=0.0,
    )
    assert r["iterations"] == int(d["iterations"])
    np.testing.assert_array_equal(r["pd_iterations"], d["pd_iterations"])
    np.testing.assert_allclose(r["energies"], d["energies"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(r["u"], d["u"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(r["v"], d["v"], rtol=0, atol=1e-10)
    assert np.all(r["pd_accepted"] <= r["pd_iterations"])


def test_copy_kernel_and_bandwidth():
    for dtype in (np.float32, np.float64):
        src = np.arange(35, dtype=dtype).reshape(7, 5)
        dst = np.zeros_like(src)
        copy_kernel(src, dst)
        assert np.array_equal(dst, src)
        assert copy_bandwidth(10_000, dtype, repeats=2) > 0


@pytest.mark.slow
def test_reproduces_published_puppets_log():
    """docs/model.md section 7: red channel, first 10 iterations of the authors' log."""
    iio = pytest.importorskip("imageio.v3")
    if not (DATA / "1_alpha.png").exists():
        pytest.skip(f"{DATA} not found")
    f = iio.imread(DATA / "1_foreground.png")[..., 0] / 255.0
    b = iio.imread(DATA / "1_background.png")[..., 0] / 255.0  # a JPEG stream
    alpha = iio.imread(DATA / "1_alpha.png").astype(np.float64)
    alpha = (alpha - alpha.min()) / (alpha.max() - alpha.min())  # MATLAB mat2gray
    assert np.array_equal(alpha, iio.imread(DATA / "1_alpha.png") / 255.0)  # min 0, max 255

    lines = []  # the log, one line per iteration
    r = fuse_paper_scipy(
        f, b, alpha[..., 0], eta=0.5, mu=100, gamma=1, epsilon=0.05, max_iter=10, log=lines.append
    )
    assert len(lines) == 10
    printed = {
        1: "8.1756e+03",
        2: "7.8428e+03",
        3: "7.6414e+03",
        4: "7.5607e+03",
        5: "7.5221e+03",
        10: "7.4452e+03",
    }
    assert {n: f"{r['energies'][n - 1]:2.4e}" for n in printed} == printed
    assert list(r["pd_accepted"][:5]) == [41, 43, 45, 39, 41] and r["pd_accepted"][9] == 28
    # Iteration 1: eight v-calls of 133, 116, 99, 84, 71, 60, 50, 41 iterations.
    assert r["pd_calls"][0] == [133, 116, 99, 84, 71, 60, 50, 41]
    np.testing.assert_array_equal(r["pd_iterations"], [sum(c) for c in r["pd_calls"]])
    assert [f"{x:2.2e}" for x in (r["L1"][0], r["L2"][0], r["L1"][9], r["L2"][9])] == [
        "4.00e+00",
        "1.28e+02",
        "7.75e-01",
        "3.97e+02",
    ]
    # The first lines of the log, residual and count included.
    assert lines[0].endswith("| 8.1756e+03 | 3.90e-02 | 9.70e-05 (41)")
    assert lines[9].endswith("| 7.4452e+03 | 1.36e-03 | 9.58e-05 (28)")
