"""fastosmosis: variational osmosis image fusion on fused Numba kernels.

Implements the model of Parisotto, Calatroni, Bugeau, Papadakis and Schönlieb,
"Variational Osmosis for Non-linear Image Fusion", IEEE Transactions on Image
Processing 29, 2020.
"""

from . import _lazy

__version__ = "0.1.0"

# each public name and the module that defines it, imported when the name is first
# used (PEP 562): ``import fastosmosis`` and the command line's start do not wait for
# Numba and SciPy (a second or so), which a batch spends starting its workers instead.
# Numba's threading layer is chosen where the kernels are imported (kernels/_types.py).
_EXPORTS = {
    "FusionResult": ".api",
    "InsufficientMemoryError": "._memory",
    "MattingResult": ".matting",
    "RegistrationError": ".registration",
    "RegistrationResult": ".registration",
    "alpha_from_trimap": ".matting",
    "energy": ".api",
    "fuse": ".api",
    "fuse_files": ".jobs",
    "memory_needed": "._memory",
    "precompile": "._solvers",
    "register": ".registration",
    "threading_layer": "._threads",
}


__getattr__, __dir__ = _lazy.lazy_exports(__name__, _EXPORTS)

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
