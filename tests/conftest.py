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


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def positive_field(rng, shape, dtype=np.float64, low=1.0, high=2.0):
    return np.ascontiguousarray(rng.uniform(low, high, shape), dtype=dtype)


def needs(path):
    return pytest.mark.skipif(not Path(path).exists(), reason=f"{path} not present")
