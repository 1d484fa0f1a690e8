"""fastosmosis: variational osmosis image fusion on fused Numba kernels.

Implements the model of Parisotto, Calatroni, Bugeau, Papadakis and Schönlieb,
"Variational Osmosis for Non-linear Image Fusion", IEEE Transactions on Image
Processing 29, 2020.
"""

from ._threads import prefer_layer as _prefer_layer

_prefer_layer()  # before Numba starts its threads: the layer is chosen then

from ._memory import InsufficientMemoryError, memory_needed  # noqa: E402
from ._solvers import precompile  # noqa: E402
from ._threads import threading_layer  # noqa: E402
from .api import FusionResult, energy, fuse  # noqa: E402
from .jobs import fuse_files  # noqa: E402
from .matting import MattingResult, alpha_from_trimap  # noqa: E402
from .registration import RegistrationError, RegistrationResult, register  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "FusionResult",
    "InsufficientMemoryError",
    "MattingResult",
    "RegistrationError",
    "RegistrationResult",
    "alpha_from_trimap",
    "energy",
    "fuse",
    "fuse_files",
    "memory_needed",
    "precompile",
    "register",
    "threading_layer",
    "__version__",
]
