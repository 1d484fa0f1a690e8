"""Threads: the threading layer, and how a fusion spreads its channels over the cores.

A parallel kernel ends by waiting for every thread. On a machine where another process
is busy, a descheduled thread makes that wait last a scheduler time slice, once per pass,
and a solve makes thousands of passes. What keeps that cost down (measured in
bench/load.py; bench/README.md, "Issue 14"):

- The channels of a colour image solved side by side, each in a thread of this process
  (the kernels release the GIL) with its own share of the threads, as many as the memory
  allows: no pass then waits for another thread.
- One thread per ``PIXELS_PER_THREAD`` pixels for a channel that runs alone: a shorter
  pass is not worth sharing. And no more threads than the CPUs that other processes leave
  free (``share``), looked at before each channel.
- OpenMP as the threading layer where Numba has it (``kernels._types.prefer_layer``,
  when the kernels are imported). Where it does not, Numba takes TBB if it is installed,
  else its workqueue, which cannot take kernels from several threads at once: the
  channels then run one after the other.

Each channel's result is the same bit for bit whatever the threads and the layer: every
sum is taken per row in a fixed order, whatever the rows per block.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba

from .kernels._types import prefer_layer

# threads of one channel: one per this many pixels, at least one (below it a second
# thread saved nothing, or cost time; bench/README.md)
PIXELS_PER_THREAD = 250_000
# channels side by side only from this size on: below, the calls of the Python driver
# and the threading layer's set-up per pass (TBB makes a task arena per call) dominate
MIN_SIDE_BY_SIDE = 100_000
THREAD_SAFE_LAYERS = ("tbb", "omp")  # layers that take kernels from several threads


def threading_layer():
    """The name of the threading layer that Numba's parallel kernels run on ("tbb",
    "omp" or "workqueue"), starting Numba's threads if they are not yet running."""
    try:
        return numba.threading_layer()
    except ValueError:  # not started yet
        from numba.np.ufunc import parallel
        prefer_layer()  # done when the kernels were imported; the user may have chosen since
        parallel._launch_threads()
        return numba.threading_layer()


def _running_here():
    """Runnable threads of this process (Linux: /proc/self/task/*/stat)."""
    n = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            n += task.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            pass
    return n


def running_elsewhere(samples=3, interval=0.002):
    """Threads of other processes that are runnable now (the fewest of ``samples``
    readings ``interval`` s apart, so that a process that runs only for a moment does
    not count); 0 where /proc/stat cannot be read."""
    fewest = None
    for k in range(samples):
        if k:
            time.sleep(interval)
        try:
            with open("/proc/stat") as fh:
                total = next(int(ln.split()[1]) for ln in fh if ln.startswith("procs_running"))
            n = max(0, total - _running_here())
        except (OSError, StopIteration, ValueError):
            return 0
        fewest = n if fewest is None else min(fewest, n)
    return fewest


def share(threads):
    """``threads`` for parallel passes, fewer where other processes keep some of this
    process's CPUs busy: a pass waits for its slowest thread, and a thread that shares
    its CPU with a busy process waits a scheduler time slice, pass after pass
    (bench/README.md, "Issue 14")."""
    if threads <= 1:
        return threads
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else threads
    return max(1, min(threads, cpus - running_elsewhere()))


def plan(pixels, channels, threads, fits):
    """(workers, threads per worker) for ``channels`` channels of ``pixels`` pixels each
    on ``threads`` threads.

    A colour image from ``MIN_SIDE_BY_SIDE`` pixels on has every channel solved side by
    side (as many as ``fits(workers)`` allows: their work arrays in memory, and the layer
    takes kernels from several threads), sharing the threads; a channel that runs alone
    gets one thread per ``PIXELS_PER_THREAD`` pixels, at least one and at most
    ``threads``. Side by side, no pass waits for another thread: on 2 cores, 3 channels
    on 3 threads are as fast as each on 2 threads in turn when the machine is quiet, and
    lose less to a busy neighbour (bench/README.md).
    """
    workers = 1
    if channels > 1 and threads > 1 and pixels >= MIN_SIDE_BY_SIDE \
            and threading_layer() in THREAD_SAFE_LAYERS:
        workers = min(channels, 2 * threads)
        while workers > 1 and not fits(workers):
            workers -= 1
    if workers > 1:
        return workers, max(1, threads // workers)
    return 1, max(1, min(threads, pixels // PIXELS_PER_THREAD))  # see share()


class _Serial:
    """A callback that never runs twice at once, and that stops every channel once
    ``stop`` is set (an exception in one channel, or Ctrl-C)."""

    def __init__(self, callback):
        self.callback = callback
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def __call__(self, channel, iteration, energy):
        if self.stop.is_set():
            return False
        if self.callback is None:
            return None
        with self.lock:
            return self.callback(channel, iteration, energy)


def run_channels(solve, channels, workers, threads, callback):
    """``[solve(c, cb) for c in range(channels)]`` on ``workers`` threads (this thread
    alone when 1), each running its kernels on ``threads`` Numba threads. ``cb`` is
    ``callback`` itself on one worker; on several, a wrapper that calls it one channel at
    a time and stops the other channels when one fails (or on Ctrl-C)."""
    saved = numba.get_num_threads()
    if workers == 1:
        out = []
        try:
            for c in range(channels):  # the load may change from one channel to the next
                numba.set_num_threads(share(threads))
                out.append(solve(c, callback))
        finally:
            numba.set_num_threads(saved)
        return out
    serial = _Serial(callback)

    def one(c):
        numba.set_num_threads(threads)  # Numba's thread count is per calling thread
        return solve(c, serial)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="fastosmosis-channel")
    futures = [pool.submit(one, c) for c in range(channels)]
    try:
        return [f.result() for f in futures]
    except BaseException:
        serial.stop.set()  # the running channels stop at their next iteration
        for f in futures:
            f.cancel()
        raise
    finally:
        pool.shutdown(wait=True)
