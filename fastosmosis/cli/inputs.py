"""What the commands do before the solver: compile the kernels, then read the inputs.

:func:`compile_first` (``fuse``, ``demo``, ``compare``) compiles (or loads) the kernels
that fuse will call, before any input is read, and says so when they must be compiled:
on a fresh install that is the first thing the user waits for. :func:`read_inputs` is the
library's :func:`fastosmosis.inputs.read_inputs` with its notes kept by a
:class:`~.console.Console` (printed once the inputs are checked, so that an error that
follows stays one line).
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import inputs


def compile_first(console, kwargs, *, load=True):
    """Compile (or load) the kernels that fuse will call with ``kwargs``, before reading
    any input, and say so on stderr when they must be compiled: that happens once.
    ``load=False``: only compile those missing from the cache (for worker processes)."""
    import fastosmosis

    dtype = np.dtype(kwargs.get("dtype", np.float64)).name
    options = set(inspect.signature(fastosmosis.precompile).parameters) - {"announce", "load"}

    def announce(names):
        console.status(f"compiling {len(names)} kernels for {dtype}; this happens once, "
                       f"later runs load them from Numba's cache")

    fastosmosis.precompile(**{k: v for k, v in kwargs.items() if k in options},
                           announce=announce, load=load)


def read_inputs(foreground, background, alpha, console, *, as_float=True):
    """:func:`fastosmosis.inputs.read_inputs` with its notes kept by ``console``."""
    return inputs.read_inputs(foreground, background, alpha, console.note, as_float=as_float)
