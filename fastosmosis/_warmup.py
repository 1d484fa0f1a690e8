"""A Dask worker preload of the local cluster: the batch's kernels loaded as it starts.

A worker loads the kernels from Numba's cache at its first row otherwise, 0.3-0.5 s
with the cluster up and waiting. :func:`dask_setup` (run by Dask as the worker starts,
``distributed.worker.preload``) loads them in a thread instead, while the worker
registers, the other workers start and the first row reads its files; the row's first
kernel call waits for what is still loading (Numba's lock). The kernels cannot be loaded
once in the server the workers are forked from: loading one starts GNU OpenMP, after
which a fork is refused. The keywords come in the environment variable ``VARIABLE``
(the nanny's ``environ``), as JSON.
"""

from __future__ import annotations

import json
import os
import threading

__all__ = ["VARIABLE", "dask_setup", "encode", "load"]

VARIABLE = "FASTOSMOSIS_WORKER_KERNELS"


def encode(kernels):
    """``kernels`` (mappings of :func:`fastosmosis.precompile` keywords) as the variable's
    value."""
    return json.dumps([dict(k) for k in kernels])


def dask_setup(worker):
    """Start loading the kernels of ``VARIABLE`` in a thread of this worker."""
    kernels = json.loads(os.environ.get(VARIABLE) or "[]")
    if kernels:
        threading.Thread(target=load, args=(kernels,), name="fastosmosis-kernels",
                         daemon=True).start()


def load(kernels):
    """Load (or compile) the kernels of each set of keywords in turn; a set that fails
    is left to the row, which then says what is wrong."""
    from ._solvers import precompile

    for kwargs in kernels:
        try:
            precompile(**kwargs, processes=1)
        except Exception:  # noqa: BLE001  (the row reports its own error)
            continue
