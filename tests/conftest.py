"""Shared fixtures and the tolerances, in one place per dtype."""

from pathlib import Path

import numpy as np
import pytest

# relative tolerance of a kernel against tests/reference.py
RTOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = (np.float64, np.float32)
SHAPES = [(1, 7), (7, 1), (2, 2), (5, 8), (6, 7)]

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TESTVECTORS = SHARED / "testvectors"
DATA = SHARED / "data"


def assert_close(actual, expected, dtype, scale=None):
    """Relative closeness with the dtype's tolerance; ``scale`` defaults to max |expected|."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if scale is None:
        scale = max(np.max(np.abs(expected)), 1e-300)
    err = np.max(np.abs(actual - expected)) / scale
    assert err <= RTOL[dtype], f"relative error {err:.3g} > {RTOL[dtype]:g}"


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param


@pytest.fixture(params=SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def shape(request):
    return request.param


def load_vector(name):
    """A test vector of ../shared/testvectors as a dict."""
    return dict(np.load(TESTVECTORS / f"{name}.npz"))


def check_against_vector(name, **options):
    """fuse on a test vector's problem with its parameters; assert the README's match.

    Same primal-dual counts, energies, u and v to 1e-10 relative. The vectors store f and
    b with the offset added; fuse adds it itself. The vectors are runs of block iPiano.
    """
    from fastosmosis import fuse

    d = load_vector(name)
    off = float(d["offset"])
    r = fuse(d["f"] - off, d["b"] - off, d["alpha"], eta=float(d["eta"]), mu=float(d["mu"]),
             gamma=float(d["gamma"]), epsilon=float(d["epsilon"]), osm=float(d["osm"]),
             init=str(d["init"]), tol=1e-300, max_iter=int(d["max_iter"]),
             pd_tol=float(d["pd_tol"]), pd_max_iter=int(d["pd_max_iter"]), offset=off,
             solver="ipiano", **options)
    assert r.iterations == [int(d["iterations"])]
    np.testing.assert_array_equal(r.pd_iterations[0], d["pd_iterations"])
    np.testing.assert_allclose(r.energies[0], d["energies"], rtol=1e-10)
    np.testing.assert_allclose(r.u + off, d["u"], rtol=1e-10)
    np.testing.assert_allclose(r.v + off, d["v"], rtol=1e-10)
    return r


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def positive_field(rng, shape, dtype=np.float64, low=1.0, high=2.0):
    return np.ascontiguousarray(rng.uniform(low, high, shape), dtype=dtype)


def needs(path):
    return pytest.mark.skipif(not Path(path).exists(), reason=f"{path} not present")
