"""The server the local cluster's worker processes are forked from: its start, its
environment and what it imports.

Part of :mod:`fastosmosis.batch`. This module imports nothing but the standard library
(and Dask, for its configuration, when it starts the server), so that the command line
can start the server before it imports NumPy, Numba and distributed itself: the
server's imports (``PRELOAD``, about 0.9 s) then run beside the command's own. The
server imports :mod:`fastosmosis._preload` last.
"""

from __future__ import annotations

import os

__all__ = ["PRELOAD", "WORKER_ENVIRON", "put_back", "server_environ", "start_server"]


def start_server():
    """Start the server that the local cluster's worker processes are forked from, unless
    it runs: it imports ``PRELOAD`` (about a second) while this process goes on, from this
    process's environment with the nanny's variables (:func:`server_environ`); the
    variables of this process stay as they are. Nothing where distributed is not
    installed (the batch says so when it imports it)."""
    import importlib.util
    import multiprocessing
    from multiprocessing import forkserver

    if importlib.util.find_spec("distributed") is None:
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
    before = dict(os.environ)
    try:
        os.environ.update(server_environ())
        forkserver.ensure_running()
    finally:
        put_back(before)


def server_environ():
    """The variables the workers' server starts with, beside this process's own: the
    nanny's pre-spawn variables (Dask's configuration; where distributed is not imported
    yet, its defaults ``DASK_PRE_SPAWN`` under what the configuration sets) where this
    process has none (Dask's rule), and ``WORKER_ENVIRON`` (``NUMBA_NUM_THREADS``
    always)."""
    import dask

    spawn = dict(DASK_PRE_SPAWN)
    spawn.update(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    spawn.update(WORKER_ENVIRON)
    env = {k: os.environ.get(k, str(v)) for k, v in spawn.items() if v is not None}
    env["NUMBA_NUM_THREADS"] = WORKER_ENVIRON["NUMBA_NUM_THREADS"]
    return env


def put_back(environ):
    """Make ``os.environ`` the mapping ``environ`` again (names added since removed)."""
    for name in set(os.environ) - set(environ):
        del os.environ[name]
    os.environ.update(environ)


# the workers' environment beside Dask's (None: not set). NUMBA_NUM_THREADS: a worker
# must have it before Numba starts, and Dask sets only the OpenMP and BLAS threads.
# MALLOC_TRIM_THRESHOLD_: Dask sets it to 65536 so that a worker gives freed memory back
# to the system at once; setting it also turns off glibc's adaptive mmap threshold, so
# that every array the solver allocates is mapped anew and its pages faulted in.
# Measured on a faces row, one thread: 0.92-1.31 s with it, 0.77-1.12 s without (6x the
# page faults, 0.1 s more system time per row), and two workers side by side delivered
# 1.96 rows/s without it against 1.31 with it (bench/README.md, "Issue 18"). An array
# above glibc's largest adaptive threshold (32 MB: a 4-Mpx float64 image) is still
# mapped and given back. A MALLOC_TRIM_THRESHOLD_ of this process's own environment is
# kept: the server inherits it.
WORKER_ENVIRON = {"NUMBA_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": None}
# distributed's own defaults of distributed.nanny.pre-spawn-environ (distributed.yaml),
# for a server started before distributed is imported
DASK_PRE_SPAWN = {"MALLOC_TRIM_THRESHOLD_": 65536, "OMP_NUM_THREADS": 1,
                  "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}

# imported once by the fork server that starts the worker processes, so that every
# worker starts with them: what run_row imports (``import fastosmosis`` alone imports
# next to nothing), and last ``_preload``, which starts Numba (its registries and LLVM,
# 0.2-0.4 s that each worker's first row paid) and freezes the server's objects for the
# garbage collector. Measured on 12 faces rows (bench/README.md): spawned workers, each
# importing all of this, delivered 1.66x the rows per second of one where forked ones
# deliver 1.6-1.9x; with Numba started in the server, a worker's first row takes as long
# as the next (0.89 s against 1.1-1.5 s). The parallel kernels themselves cannot be
# loaded there: loading one from the cache starts GNU OpenMP, after which a fork is
# refused ("fork() called from a process already using GNU OpenMP": every worker died);
# each worker loads them as it starts (``_warmup``). Numba's fork-safe layer, its
# workqueue, costs more than it saves: a faces row took 1.5-2.5 s on one workqueue thread
# against 0.9-1.2 s on one OpenMP thread.
PRELOAD = ("distributed", "fastosmosis.jobs", "fastosmosis.batch", "fastosmosis.api",
           "fastosmosis._preload")
