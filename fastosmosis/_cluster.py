"""The local cluster of a batch: how many worker processes, and starting them.

Part of :mod:`fastosmosis.batch`. :func:`local_workers` sizes the cluster from the cores,
the rows and the memory the largest row needs (:func:`fastosmosis.memory_needed`);
:func:`local_cluster` starts it (dask.distributed's ``LocalCluster`` of worker processes,
one thread and one Numba thread each) and stops it on leaving, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os

from . import _warmup
from ._memory import available_memory, memory_needed
from ._optional import require
from .model import Model

__all__ = ["WORKER_BYTES", "local_cluster", "local_workers", "start_server"]

# a worker process's own memory (Python, NumPy, Numba, distributed, the kernels), beside
# what memory_needed counts: 215 MB resident measured after a faces row, with room
WORKER_BYTES = 400_000_000


def local_workers(rows, *, cores=None, memory=None):
    """Worker processes for ``rows`` on this machine: one per core, at most one per row,
    and no more than the memory available holds with the largest row running in each
    (:func:`fastosmosis.memory_needed` of its solver and working type, its input images
    and ``WORKER_BYTES``); at least one."""
    cores = cores or len(os.sched_getaffinity(0))
    memory = available_memory() if memory is None else memory
    need = max((_row_bytes(row) for row in rows), default=0) + WORKER_BYTES
    by_memory = memory // need if memory else cores
    return int(max(1, min(cores, len(rows), by_memory)))


def _row_bytes(row):
    shape = _image_shape(row.foreground)
    if shape is None:
        return 0
    p = row.resolved
    dtype = p["dtype"] or "float64"  # float32 only when both files are float32
    model = Model(**{f.name: p[f.name] for f in dataclasses.fields(Model)})
    prox = model.takes_prox(p["v_step"])
    h, w = shape[:2]
    channels = shape[2] if len(shape) == 3 else 1
    # the input images as read (at most 16-bit) and alpha (float64), the encoded output
    inputs = h * w * (2 * channels * 2 + 8 + channels * 2)
    return memory_needed(shape, dtype, p["solver"], prox=prox, return_v=True) + inputs


def _image_shape(path):
    """(H, W, C) of an image file from its header (Pillow, else tifffile), or None."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return (im.height, im.width, len(im.getbands()))
    except Exception:  # not a file Pillow knows: try TIFF
        pass
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return tuple(tif.pages[0].shape)
    except Exception:  # the row will say what is wrong with the file
        return None


@contextlib.contextmanager
def local_cluster(n_workers, *, retries=2, quiet=False, kernels=()):
    """A client of a LocalCluster of ``n_workers`` worker processes on 127.0.0.1, one
    thread and one Numba thread each, stopped on leaving (also on Ctrl-C).

    The workers are forked from a server process that has imported the package
    (:func:`start_server`, which a caller may call earlier). ``kernels``: keywords of
    :func:`fastosmosis.precompile` whose kernels each worker loads as it starts
    (:mod:`fastosmosis._warmup`), while the cluster's start goes on. The nanny sets its
    variables in this process's environment while the cluster runs (for the processes it
    starts again); every variable is put back as it was at the end.
    """
    distributed = require("distributed", "a batch")
    import dask

    start_server()
    before = dict(os.environ)
    # the nanny takes a variable from the environment over its configuration
    os.environ.update({k: v for k, v in WORKER_ENVIRON.items() if v is not None})
    config = {f"distributed.nanny.pre-spawn-environ.{k}": v
              for k, v in WORKER_ENVIRON.items()}
    config.update(WORKER_CONFIG)
    config["distributed.scheduler.allowed-failures"] = int(retries)
    if kernels:
        config.update({"distributed.worker.preload": [_warmup.__name__],
                       f"distributed.nanny.environ.{_warmup.VARIABLE}": _warmup.encode(kernels)})
    cluster = client = None
    try:
        with dask.config.set(config):
            cluster = distributed.LocalCluster(
                n_workers=n_workers, processes=True, threads_per_worker=1,
                host="127.0.0.1", dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},  # its HTTP routes on a free port
                silence_logs=logging.CRITICAL if quiet else logging.ERROR)
            client = distributed.Client(cluster)
            yield client
    finally:
        with contextlib.suppress(Exception):
            if client is not None:
                client.close(timeout=5)
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close(timeout=10)
        _put_back(before)


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
        _put_back(before)


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


def _put_back(environ):
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
# the workers' configuration: forked from the server; no statistical profiler (it takes
# the GIL every 10 ms to walk the solver's stack, for a dashboard the local cluster
# does not serve)
WORKER_CONFIG = {"distributed.worker.multiprocessing-method": "forkserver",
                 "distributed.worker.profile.enabled": False}


# imported once by the fork server that starts the worker processes, so that every
# worker starts with them: what run_row imports (``import fastosmosis`` alone imports
# next to nothing), and ``_server``, which starts Numba (its registries and LLVM, 0.2-0.4
# s that each worker's first row paid). Measured on 12 faces rows (bench/README.md):
# spawned workers, each importing all of this, delivered 1.66x the rows per second of
# one where forked ones deliver 1.6-1.9x; with Numba started in the server, a worker's
# first row takes as long as the next (0.89 s against 1.1-1.5 s). The parallel kernels
# themselves cannot be loaded there: loading one from the cache starts GNU OpenMP, after
# which a fork is refused ("fork() called from a process already using GNU OpenMP":
# every worker died); each worker loads them as it starts (``_warmup``). Numba's
# fork-safe layer, its workqueue, costs more than it saves: a faces row took 1.5-2.5 s
# on one workqueue thread against 0.9-1.2 s on one OpenMP thread.
PRELOAD = ("distributed", "fastosmosis.jobs", "fastosmosis.batch", "fastosmosis.api",
           "fastosmosis._server")
