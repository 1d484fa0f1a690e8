"""fastosmosis: variational osmosis image fusion on fused Numba kernels."""

__version__ = "0.1.0"
