"""Kernel signatures and compiler options, in one place.

Every top-level kernel has one signature per float type (float32, float64), built from
the image type; it is compiled (or loaded from Numba's on-disk cache) the first time it
is called with that type, or when ``precompile`` asks for it, and never for any other
types. Images are C-contiguous 2-D arrays of one float type; scalars passed with them are
converted to that type at the call (so float32 arithmetic stays float32); sums are
accumulated in float64 in per-row buffers ``partial`` of shape (H, k); the primal-dual
residual's row sums, a stopping test only, in the image's type (8 float32 lanes, not 4).
"""

import functools
import os
import threading

import numba
import numpy as np
from numba import float32, float64, int64, njit, types
from numba.core.errors import NumbaError

# OpenMP first: faster than TBB (which Numba tries first where it is installed) when
# the machine is quiet, and as fast beside a busy process (bench/README.md)
PREFERRED_LAYERS = ("omp", "tbb", "workqueue")


def prefer_layer():
    """Make OpenMP Numba's first choice of threading layer, unless the user chose (the
    layer, or the order, by Numba's environment variables); returns the order. Called
    when this module is imported, before any kernel is loaded: Numba chooses its layer
    then."""
    if os.environ.get("NUMBA_THREADING_LAYER", "default").lower() != "default" \
            or "NUMBA_THREADING_LAYER_PRIORITY" in os.environ:
        return list(numba.config.THREADING_LAYER_PRIORITY)
    order = list(PREFERRED_LAYERS)
    order += [x for x in numba.config.THREADING_LAYER_PRIORITY if x not in order]
    numba.config.THREADING_LAYER_PRIORITY = order
    return order


prefer_layer()

# Compiler options of every kernel, in one place.
# error_model="numpy": a division by zero gives inf/nan instead of raising, which takes
# the check (and its branch) out of the inner loops so that they vectorise.
# fastmath "reassoc" only: lets the per-row float64 sums vectorise (their order then
# depends on the vector width, not on the thread count); never the full fast-math set,
# whose nnan/ninf flags would turn NaN checks into no-ops.
FASTMATH = {"reassoc"}
# nogil: a kernel releases the GIL, so that the channels of an image can be solved in
# threads of one process.
JIT = dict(cache=True, error_model="numpy", fastmath=FASTMATH, nogil=True)

FLOATS = (float32, float64)
PARTIAL = types.Array(float64, 2, "C")
INT = int64


def image(ftype):
    return types.Array(ftype, 2, "C")


def row(ftype):
    return types.Array(ftype, 1, "C")


_COMPILING = threading.RLock()
_NUMBA_TYPES = {np.dtype(np.float32): float32, np.dtype(np.float64): float64}


class Kernel:
    """A parallel kernel with one signature per float type, compiled on first use.

    ``build(A, F)`` gives the signature for the 2-D array type ``A`` of float type
    ``F``. The Numba dispatcher never compiles on its own (so that a call with Python
    floats beside float32 images converts them to float32 instead of compiling a float64
    variant); ``compile(dtype)`` compiles one signature, or loads it from the cache, and a
    call whose float type has no compiled signature yet compiles it first. ``needs``:
    kernels this one calls, compiled before it.
    """

    def __init__(self, py_func, build, needs=(), **options):
        self.dispatcher = njit(**JIT, **options)(py_func)
        # Numba's disable_compile() insists on a compiled signature first; the flag is
        # what it sets
        self.dispatcher._can_compile = False
        self.build = build
        self.needs = tuple(needs)
        self.name = py_func.__name__
        functools.update_wrapper(self, py_func)

    def __repr__(self):
        return f"<kernel {self.__module__}.{self.name}>"

    def signature(self, dtype):
        ftype = _NUMBA_TYPES[np.dtype(dtype)]
        return self.build(image(ftype), ftype)

    def is_compiled(self, dtype):
        return self.signature(dtype).args in self.dispatcher.overloads

    def is_cached(self, dtype):
        """Whether Numba's on-disk cache holds this kernel for ``dtype`` on this CPU and
        Numba version (False where that cannot be read)."""
        d = self.dispatcher
        try:
            key = d._cache._index_key(self.signature(dtype), d.targetctx.codegen())
            return key in d._cache._cache_file._load_index()
        except Exception:  # no cache, or an index that cannot be read
            return False

    @property
    def signatures(self):
        """The signatures compiled so far."""
        return self.dispatcher.signatures

    def compile(self, dtype):
        """Compile this kernel (and what it calls) for float type ``dtype``, or load it
        from the on-disk cache; nothing if it already is."""
        if self.is_compiled(dtype):
            return
        with _COMPILING:
            for other in self.needs:
                other.compile(dtype)
            if self.is_compiled(dtype):
                return
            self.dispatcher._can_compile = True
            try:
                self._compile(self.signature(dtype))
            finally:
                self.dispatcher._can_compile = False

    def _compile(self, sig):
        try:
            self.dispatcher.compile(sig)
        except NumbaError:
            raise
        except Exception:
            # a cache entry that cannot be read (truncated, or written by something
            # else): start this kernel's cache afresh and compile
            self.dispatcher._cache.flush()
            self.dispatcher.compile(sig)

    def __call__(self, *args):
        try:
            return self.dispatcher(*args)
        except TypeError:
            dtype = _float_type(args)
            if dtype is None or self.is_compiled(dtype):
                raise
        self.compile(dtype)
        return self.dispatcher(*args)


def _float_type(args):
    """The float type of the first float array among ``args``, or None."""
    for a in args:
        if isinstance(a, np.ndarray) and np.dtype(a.dtype) in _NUMBA_TYPES:
            return a.dtype
    return None


def kernel(build, needs=(), **options):
    """Decorator: a :class:`Kernel` with signatures ``build(A, F)`` and Numba options
    ``options`` beside the common ones (``JIT``)."""
    return lambda py_func: Kernel(py_func, build, needs, **options)


def tuple_of(n):
    return types.UniTuple(float64, n)
