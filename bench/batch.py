"""Batches on Dask: throughput of the local cluster, and a batch with faults (issue 18).

    python3 -m bench.batch [--rows 12] [--fault-rows 8] [--skip-throughput]

Throughput: ``--rows`` faces-sized rows (the faces example, 600 x 460 RGB, alpha blur 5
as the paper has it, every other parameter fuse's default; one output per row) fused by
:func:`fastosmosis.batch.fuse_many` on a local cluster of one worker process and then of
two (:func:`fastosmosis.batch.local_cluster`, handed to it as its client and kept open to
read the workers' CPU time), and by its defaults (it starts as many workers as the cores
and the memory allow); against them, a Python loop of :func:`fastosmosis.jobs.fuse_files`
calls in one process with fuse's default threads (what a script without Dask does).
Each figure is one run, wall time from the start to the return (the batch's includes
starting and stopping its cluster and the workers' imports; the loop's includes loading
the kernels, not the interpreter's start), and the CPU seconds per row.
Targets: two workers >= 1.8x the rows per second of one; the defaults never slower than
the loop.

Faults: ``--fault-rows`` rows, one of them with a corrupt background, run by the
command (``fastosmosis batch``, local cluster, defaults) in a subprocess; once the
cluster is up (its address is on the status line) one worker process is killed by its
pid while it works on a row. Targets: exit status 1, the corrupt row failed, the others'
outputs bitwise identical to single ``fuse_files`` runs, and the rerun skipping all of
them in under 5 s.
"""

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FACES = {"foreground": "4_foreground.png", "background": "4_background.png",
         "alpha": "4_alpha.png"}
PARAMETERS = {"alpha_blur": 5.0}  # the paper's faces example


def _items(folder, n):
    """``n`` rows on the faces files (copied into ``folder``), one output each."""
    for name in FACES.values():
        shutil.copy(DATA / name, folder / name)
    return [dict(FACES, output=f"out/face_{k:02d}.png", **PARAMETERS) for k in range(n)]


def _write_manifest(path, items):
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, list(items[0]))
        writer.writeheader()
        writer.writerows(items)


def _cpu_seconds():
    """CPU seconds (user + system) of the calling process so far: run on each worker."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def throughput(n):
    from fastosmosis.batch import fuse_many, local_cluster
    from fastosmosis.jobs import fuse_files

    figures = {}
    before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        items = _items(folder, n)
        for label, workers in (("1 worker", 1), ("2 workers", 2), ("defaults", None)):
            shutil.rmtree(folder / "out", ignore_errors=True)
            start = time.perf_counter()
            if workers is None:  # what the command does: fuse_many starts its cluster
                batch = fuse_many(items, outdir=folder / "out", base=folder, quiet=True)
                cpu = running = None
            else:  # the same local_cluster, kept open to read its workers' CPU time
                with local_cluster(workers, quiet=True) as client:
                    up = time.perf_counter()
                    batch = fuse_many(items, outdir=folder / "out", base=folder,
                                      client=client)
                    running = time.perf_counter() - up
                    cpu = sum(client.run(_cpu_seconds).values())
            seconds = time.perf_counter() - start
            assert batch.count("done") == n, [r.error for r in batch.failed]
            figures[label] = (seconds, batch.workers, cpu, running)
        shutil.rmtree(folder / "out")
        os.makedirs(folder / "out")
        start, cpu = time.perf_counter(), time.process_time()
        for item in items:
            fuse_files(folder / item["foreground"], folder / item["background"],
                       folder / item["output"], alpha=folder / item["alpha"], **PARAMETERS)
        figures["Python loop"] = (time.perf_counter() - start, None,
                                  time.process_time() - cpu, None)
    print(f"throughput: {n} faces-sized rows (600 x 460 RGB, alpha_blur 5), one run each; "
          f"load average before {before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    for label, (seconds, workers, cpu, running) in figures.items():
        procs = f"{workers} worker processes" if workers else "one process"
        used = f", {cpu / n:.2f} CPU s per row" if cpu is not None else ""
        if running is not None:
            used += f", {n / running:.3f} rows/s once the cluster is up"
        print(f"  {label:12s} {seconds:7.1f} s  {n / seconds:.3f} rows/s ({procs}{used})")
    one, two = figures["1 worker"][0], figures["2 workers"][0]
    up_one, up_two = figures["1 worker"][3], figures["2 workers"][3]
    loop, default = figures["Python loop"][0], figures["defaults"][0]
    print(f"  2 workers / 1 worker, rows per second: {one / two:.2f}x (target >= 1.8x); "
          f"once the cluster is up: {up_one / up_two:.2f}x")
    print(f"  defaults / Python loop, rows per second: {loop / default:.2f}x "
          f"(target >= 1.0x)")
    print("  (CPU s per row: the workers' own CPU time, their start and imports included; "
          "the loop's process CPU time)")


def _address(proc, deadline):
    """The local cluster's scheduler address from the command's status line."""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "worker processes (local cluster " in line:
            return line.rsplit(" ", 1)[1].rstrip(")\n")
        if not line and proc.poll() is not None:
            raise RuntimeError("the batch ended before its cluster started")
    raise RuntimeError("no cluster address in time")


def faults(n):
    import distributed
    import numpy as np

    from fastosmosis.io import read_image
    from fastosmosis.jobs import fuse_files

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        items = _items(folder, n)
        (folder / "corrupt.png").write_bytes((DATA / FACES["background"]).read_bytes()[:4000])
        items[-1]["background"] = "corrupt.png"
        _write_manifest(folder / "m.csv", items)
        command = [sys.executable, "-m", "fastosmosis", "batch", "m.csv", "-o", "out"]
        start = time.monotonic()
        proc = subprocess.Popen(command, cwd=folder, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            address = _address(proc, start + 300)
            with distributed.Client(address, timeout="60s") as client:
                killed = None
                while killed is None and time.monotonic() < start + 300:
                    running = client.run(lambda dask_worker: len(dask_worker.state.executing))
                    busy = [w for w, k in running.items() if k]
                    if busy:
                        killed = client.run(os.getpid, workers=busy[:1])[busy[0]]
                        os.kill(killed, signal.SIGKILL)
                    time.sleep(0.05)
            proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
        seconds = time.monotonic() - start
        with open(folder / "out" / "batch-summary.csv", newline="") as fh:
            summary = list(csv.DictReader(fh))
        statuses = [r["status"] for r in summary]
        same = 0
        for item in items[:-1]:
            single = folder / "single.png"
            fuse_files(folder / item["foreground"], folder / item["background"], single,
                       alpha=folder / item["alpha"], **PARAMETERS)
            same += np.array_equal(read_image(single)[0],
                                   read_image(folder / item["output"])[0])
        start = time.monotonic()
        again = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                               timeout=600)
        rerun = time.monotonic() - start
    print(f"faults: {n} rows, one corrupt background, worker pid {killed} killed while "
          f"it worked on a row; load average {os.getloadavg()[0]:.1f}")
    print(f"  exit status {proc.returncode} (target 1) in {seconds:.1f} s; statuses: "
          f"{statuses.count('done')} done, {statuses.count('failed')} failed "
          f"({summary[-1]['error']})")
    print(f"  outputs bitwise identical to single fuse_files runs: {same} of {n - 1}")
    print(f"  rerun: exit status {again.returncode}, {again.stdout.strip()} "
          f"({rerun:.1f} s wall with the interpreter's start; target < 5 s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--fault-rows", type=int, default=8)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if not args.skip_throughput:
        throughput(args.rows)
    faults(args.fault_rows)


if __name__ == "__main__":
    main()
