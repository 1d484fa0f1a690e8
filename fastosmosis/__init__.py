"""fastosmosis: variational osmosis image fusion on fused Numba kernels.

Implements the model of Parisotto, Calatroni, Bugeau, Papadakis and Schönlieb,
"Variational Osmosis for Non-linear Image Fusion", IEEE Transactions on Image
Processing 29, 2020.
"""

from .api import FusionResult, InsufficientMemoryError, energy, fuse, memory_needed, precompile

__version__ = "0.1.0"

__all__ = [
    "FusionResult",
    "InsufficientMemoryError",
    "energy",
    "fuse",
    "memory_needed",
    "precompile",
    "__version__",
]
