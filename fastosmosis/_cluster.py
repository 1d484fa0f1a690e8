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
from ._server import WORKER_ENVIRON, put_back, start_server
from .model import Model

__all__ = ["WORKER_BYTES", "local_cluster", "local_workers"]

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
    (:func:`fastosmosis._server.start_server`, which a caller may call earlier).
    ``kernels``: keywords of :func:`fastosmosis.precompile` whose kernels each worker
    loads as it starts (:mod:`fastosmosis._warmup`), while the cluster's start goes on.
    The nanny sets its variables in this process's environment while the cluster runs
    (for the processes it starts again); every variable is put back as it was at the end.
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
        put_back(before)


# the local cluster's configuration: workers forked from the server; no statistical
# profiler (it takes the GIL every 10 ms to walk the solver's stack, for a dashboard the
# local cluster does not serve); the event loops' health check every 500 ms instead of
# 20 ms and the host metrics (CPU, network, disk; for the dashboard, not the memory
# limits) every 2 s instead of 0.5 s. Measured with two idle workers, the scheduler and
# nannies in this process: 5.1-5.8 % of a core in all with Dask's defaults, 2.5 % with
# these; 12 faces rows by the command, four pairs in turns: 5.63-5.85 s against
# 5.73-5.91 s.
WORKER_CONFIG = {"distributed.worker.multiprocessing-method": "forkserver",
                 "distributed.worker.profile.enabled": False,
                 "distributed.admin.tick.interval": "500ms",
                 "distributed.admin.system-monitor.interval": "2s"}
