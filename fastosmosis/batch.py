"""Batches: many pairs fused on Dask, on this machine by default or on a cluster.

:func:`fuse_many` checks every row first (:func:`~fastosmosis._manifest.plan_rows`),
skips the rows that are done already (their output and report exist and the report
holds the row's parameters and the inputs' content hashes), and sends the others to
dask.distributed, one task per row, each :func:`run_row`: the worker reads the files,
fuses and writes the output and its JSON report itself, atomically, through
:func:`fastosmosis.jobs.fuse_files`. A row that fails (an unreadable file, a bad alpha
map, a solver stopped by its backtracking) is recorded with its error and the batch goes
on; a worker process that dies while it works on a row (killed, out of memory) costs a
retry of that row. ``OUTDIR/batch-summary.csv`` lists every row at the end.

Without a client, :func:`~fastosmosis._cluster.local_cluster` starts worker processes
on this machine, one Numba thread each, as many as the cores and the memory allow for
the largest row (:func:`~fastosmosis._cluster.local_workers`), following the
distributed documentation's futures page (``LocalCluster(processes=True,
threads_per_worker=1)``, ``client.submit``, ``as_completed``).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import os
import time
from dataclasses import dataclass, field

from ._cluster import WORKER_BYTES, local_cluster, local_workers
from ._driver import STOP_BACKTRACKING
from ._manifest import ManifestError, Row, failed_channels, is_current, plan_rows
from ._optional import require
from ._server import start_server
from ._write import write_files_atomic
from .validation import check_number

__all__ = ["BatchResult", "ManifestError", "RowResult", "SUMMARY_NAME", "WORKER_BYTES",
           "fuse_many", "kernel_sets", "local_cluster", "local_workers", "plan", "run_row"]

SUMMARY_NAME = "batch-summary.csv"
SUMMARY_COLUMNS = ("row", "status", "error", "seconds", "output", "foreground",
                   "background")


@dataclass(frozen=True)
class RowResult:
    """How one row went: ``status`` "done", "skipped" or "failed" (with ``error``)."""

    row: int
    status: str
    output: str
    foreground: str
    background: str
    seconds: float = 0.0
    error: str = ""
    notes: tuple = ()


@dataclass
class BatchResult:
    """Result of :func:`fuse_many`: one :class:`RowResult` per row, in the rows' order
    (while it runs, in the order they ended), and the count of each status."""

    rows: list = field(default_factory=list)
    summary: str | None = None
    workers: int = 0
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)

    def count(self, status):
        """The rows of that status ("done", "skipped", "failed") so far."""
        return self.counts.get(status, 0)

    @property
    def failed(self):
        return [r for r in self.rows if r.status == "failed"]


def run_row(row: Row) -> RowResult:
    """Fuse one row on a worker, files to files (:func:`fastosmosis.jobs.fuse_files`):
    the output and its report written atomically. A row that raises is returned as
    failed with its error, not raised: it would fail again on a retry. So is a row
    whose solver stopped on its backtracking (its output and report are written; a
    rerun tries it again)."""
    from .jobs import fuse_files

    start = time.perf_counter()
    notes = []
    try:
        job = fuse_files(row.foreground, row.background, row.output, alpha=row.alpha,
                         trimap=row.trimap, report=row.report, notes=notes.append,
                         **row.job, **row.parameters)
    except Exception as exc:  # whatever stops a row is that row's error
        return _result(row, "failed", time.perf_counter() - start, error_text(exc), notes)
    seconds = time.perf_counter() - start
    bad = failed_channels(job.report)
    if bad:
        return _result(row, "failed", seconds, f"channel {', '.join(map(str, bad))}: the "
                       f"solver stopped: {STOP_BACKTRACKING} (its result is in "
                       f"{row.output}, but not a minimiser)", notes)
    return _result(row, "done", seconds, notes=notes)


def error_text(exc):
    """One line for the summary: the message (ValueError, OSError: it names the file),
    else the exception's type and message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (ValueError, TypeError)) and text:
        return text
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or text}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _result(row, status, seconds=0.0, error="", notes=()):
    return RowResult(row=row.index, status=status, output=row.output,
                     foreground=row.foreground, background=row.background,
                     seconds=seconds, error=error, notes=tuple(notes))


def fuse_many(items, *, outdir, client=None, base=None, defaults=None, workers=None,
              retries=2, progress=None, prepare=None, started=None, quiet=False):
    """Fuse every row of a batch on Dask, skipping those done already.

    Parameters
    ----------
    items : iterable of mapping
        The rows: ``foreground``, ``background``, ``alpha`` or ``trimap``, optionally
        ``output``, ``register``, ``matting`` and keywords of :func:`fastosmosis.fuse`
        (see :func:`~fastosmosis._manifest.plan_rows`).
    outdir : str or path
        Where the default outputs and ``batch-summary.csv`` go (made if missing;
        relative: to the current folder).
    client : distributed.Client or None
        A client of an existing cluster (its workers must see the files: a shared
        filesystem); None starts a :func:`local_cluster` for the rows to do, and stops
        it at the end (also on Ctrl-C).
    base : str or path or None
        The folder the rows' relative paths are taken from (a manifest's; None: the
        current one).
    defaults : mapping or None
        Fuse keywords for every row; a row's own columns win.
    workers : int or None
        Worker processes of the local cluster (None: :func:`local_workers`).
    retries : int
        Times a row is run again after the worker running it died (the local cluster's
        ``distributed.scheduler.allowed-failures``; an existing cluster's scheduler has its
        own); also passed to ``client.submit`` for errors the row does not catch itself.
    progress : callable or None
        ``progress(result, batch)`` after each row (a :class:`RowResult`, the
        :class:`BatchResult` so far), skipped rows first.
    prepare : callable or None
        ``prepare(rows)`` with the rows to do (:class:`~fastosmosis._manifest.Row`),
        before the cluster starts (the command line compiles their kernels there).
    started : callable or None
        ``started(address, workers, rows)`` once the cluster is there, before the first
        row is sent: the scheduler's address, its worker count, the rows to do (not
        called when every row is skipped).
    quiet : bool
        Silence the local cluster's log messages below errors.

    Returns
    -------
    BatchResult

    Notes
    -----
    The local cluster's workers are started by multiprocessing's fork server, which
    imports the calling script again: call this under ``if __name__ == "__main__":`` in
    a script.
    """
    distributed = require("distributed", "a batch")
    start = time.perf_counter()
    check_number("retries", retries, nonnegative=True, integer=True)
    if workers is not None:
        check_number("workers", workers, positive=True, integer=True)
        if client is not None:
            raise ValueError("workers: sets the local cluster's size; an existing "
                             "cluster has its own workers")
    rows = plan(items, outdir=outdir, base=base, defaults=defaults, local=client is None)
    outdir = os.path.abspath(os.fspath(outdir))
    for folder in {outdir, *(os.path.dirname(r.output) for r in rows)}:
        os.makedirs(folder, exist_ok=True)
    batch = BatchResult()
    results = {}

    def record(result):
        results[result.row] = result
        batch.rows.append(result)  # in the order they end, until all have
        batch.counts[result.status] = batch.count(result.status) + 1
        if progress is not None:
            progress(result, batch)

    todo = []
    for row in rows:
        if is_current(row):
            record(_result(row, "skipped"))
        else:
            todo.append(row)
    if todo and client is None:
        start_server()  # its imports go on beside the kernels' compilation
    if todo and prepare is not None:
        prepare(todo)
    if todo:
        with contextlib.ExitStack() as stack:
            unfinished = []
            if client is None:
                # runs last, once the cluster's closing has stopped its workers
                stack.callback(remove_partial, unfinished)
                n = workers or local_workers(todo)
                client = stack.enter_context(local_cluster(
                    n, retries=retries, quiet=quiet, kernels=kernel_sets(todo)))
            batch.workers = len(client.scheduler_info()["workers"])
            if started is not None:
                started(client.scheduler.address, batch.workers, len(todo))
            _run_rows(distributed, client, todo, retries, record, unfinished)
    batch.rows = [results[r.index] for r in rows]
    batch.summary = os.path.join(outdir, SUMMARY_NAME)
    write_files_atomic([(batch.summary, summary_text(batch.rows).encode())])
    batch.seconds = time.perf_counter() - start
    return batch


def plan(items, *, outdir, base=None, defaults=None, local=True):
    """The batch's rows (:func:`~fastosmosis._manifest.plan_rows`, same parameters), with
    the steps before the fusion checked too (``register``: a transform of
    :func:`fastosmosis.jobs.fuse_files`, ``matting``: one of its methods) and, for the
    ``local`` cluster, ``threads`` (its workers have one Numba thread each); raises
    :class:`ManifestError` naming the row and the column."""
    from .jobs import MATTING_METHODS, TRANSFORMS

    rows = plan_rows(items, outdir=outdir, base=base, defaults=defaults)
    for row in rows:
        if local and (row.parameters.get("threads") or 1) > 1:
            raise ManifestError(row.index, "threads", "the local cluster's workers have one "
                                "Numba thread each (rows run side by side instead); leave "
                                "threads out")
        for column, choices in (("register", TRANSFORMS), ("matting", MATTING_METHODS)):
            value = row.job.get(column)
            if value is not None and value not in choices:
                raise ManifestError(row.index, column, f"unknown value {value!r}; expected "
                                    f"one of {', '.join(choices)}")
    return rows


def kernel_sets(rows):
    """The distinct :func:`fastosmosis.precompile` keywords of ``rows``: the kernels the
    batch will call (``dtype`` only where a row sets it; fuse takes it from the images
    otherwise, float64 for 8- and 16-bit files)."""
    keys = ("scheme", "solver", "v_step", "eta", "regularizer")
    seen = []
    for row in rows:
        kwargs = {k: row.resolved[k] for k in keys}
        if row.resolved["dtype"] is not None:
            kwargs["dtype"] = row.resolved["dtype"]
        if kwargs not in seen:
            seen.append(kwargs)
    return seen


def _run_rows(distributed, client, rows, retries, record, unfinished):
    """Submit every row and record each as it ends; on an early exit (Ctrl-C) cancel
    what is left and put its rows in ``unfinished``."""
    futures = {}
    try:
        for row in rows:
            key = f"fastosmosis-row-{row.index}-{os.urandom(4).hex()}"
            futures[client.submit(run_row, row, retries=retries, key=key)] = row
        for future in distributed.as_completed(futures):
            row = futures[future]
            if future.status == "finished":
                record(future.result())
            else:
                try:
                    exc = future.exception()
                except Exception as cancelled:  # a cluster that dropped the task
                    exc = cancelled
                error = error_text(exc)
                if isinstance(exc, distributed.KilledWorker):
                    error = f"the worker processes running it died ({error})"
                record(_result(row, "failed", error=error))
    finally:
        unfinished.extend(row for future, row in futures.items() if not future.done())
        if unfinished:
            with contextlib.suppress(Exception):
                client.cancel(list(futures))


def summary_text(results):
    """``batch-summary.csv``: one line per row (status, error, seconds, files)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for r in results:
        writer.writerow([r.row, r.status, r.error, f"{r.seconds:.3f}", r.output,
                         r.foreground, r.background])
    return out.getvalue()


def remove_partial(rows):
    """Remove the temporary files (``.NAME.*.part``, :func:`fastosmosis.io.
    write_files_atomic`) that a killed worker left beside the outputs of ``rows``."""
    for row in rows:
        for path in (row.output, row.report):
            folder, name = os.path.split(path)
            for tmp in glob.glob(os.path.join(glob.escape(folder),
                                              f".{glob.escape(name)}.*.part")):
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
