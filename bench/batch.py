"""Batches on Dask: throughput of the local cluster, and a batch with faults (issue 18).

    python3 -m bench.batch [--rows 12] [--fault-rows 8] [--skip-throughput]

Throughput: ``--rows`` faces-sized rows (the faces example, 600 x 460 RGB, alpha blur 5
as the paper has it, every other parameter fuse's default; one output per row).

- Scaling: :func:`fastosmosis.batch.fuse_many` on a local cluster of one worker process
  and then of two (:func:`fastosmosis.batch.local_cluster`, handed to it as its client
  and kept open to read the workers' CPU time), the workers' fork server started and
  ready before either (so that neither pays its imports). Wall time from the cluster's
  start to its end. Target: two workers >= 1.8x the rows per second of one. Beside it,
  what this machine gives two processes without Dask: the rows fused by one plain
  process with one Numba thread, and by two side by side (half the rows each), each
  timed from after its imports to its last row.
- Defaults against a loop: the command with its defaults (``fastosmosis batch MANIFEST -o
  OUTDIR --quiet``: it starts as many workers as the cores and the memory allow) and a
  Python script that calls :func:`fastosmosis.jobs.fuse_files` on each row in one
  process with fuse's default threads (what a script without Dask does), each a fresh
  interpreter timed from its start to its exit, imports and kernel loading included;
  run loop, command, command, loop, so that a drift of the machine's speed falls on both.
  Target: the command never slower than the loop. Beside it, the same in this process
  (its imports done, the fork server up): fuse_many with its defaults, which starts its
  own cluster, against the loop of fuse_files, kernel loading included.

Faults: ``--fault-rows`` rows, one of them with a corrupt background, run by the
command (``fastosmosis batch``, local cluster, defaults) in a subprocess; once the
cluster is up (its address is on the status line) one worker process is killed by its
pid while it works on a row. Targets: exit status 1, the corrupt row failed, the others'
outputs bitwise identical to single ``fuse_files`` runs, and the rerun skipping all of
them in under 5 s.
"""

import argparse
import csv
import glob
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


LOOP = """
import csv, sys
from pathlib import Path
from fastosmosis.jobs import fuse_files
manifest = Path(sys.argv[1])
with open(manifest, newline="") as fh:
    rows = list(csv.DictReader(fh))
folder = manifest.parent
for row in rows:
    fuse_files(folder / row["foreground"], folder / row["background"],
               folder / row["output"], alpha=folder / row["alpha"],
               alpha_blur=float(row["alpha_blur"]))
"""


# the machine's own reference for two workers: rows[K::N] fused by a plain process with
# one Numba thread, timed from after its imports (kernel loading included, as a worker's
# first row includes it) to its last row
PLAIN = """
import csv, sys, time
from pathlib import Path
from fastosmosis.jobs import fuse_files
manifest, k, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
with open(manifest, newline="") as fh:
    rows = list(csv.DictReader(fh))[k::n]
folder = manifest.parent
start = time.perf_counter()
for row in rows:
    fuse_files(folder / row["foreground"], folder / row["background"],
               folder / "plain" / Path(row["output"]).name, alpha=folder / row["alpha"],
               alpha_blur=float(row["alpha_blur"]))
print(time.perf_counter() - start)
"""


def _plain(folder, manifest, processes):
    """Seconds until the last of ``processes`` plain one-thread processes, side by side,
    has fused its share of the rows (PLAIN)."""
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", PLAIN, manifest, str(k), str(processes)],
                              cwd=folder, env=env, stdout=subprocess.PIPE, text=True)
             for k in range(processes)]
    return max(float(p.communicate()[0]) for p in procs)


def _fresh(command, folder):
    """Wall seconds of ``command`` in a fresh interpreter, from its start to its exit."""
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - start


def throughput(n):
    from fastosmosis.batch import fuse_many, local_cluster
    from fastosmosis.jobs import fuse_files

    figures = {}
    before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        items = _items(folder, n)
        with local_cluster(1, quiet=True):  # the fork server up, with its imports
            pass
        for label, workers in (("1 worker", 1), ("2 workers", 2)):
            shutil.rmtree(folder / "out", ignore_errors=True)
            start = time.perf_counter()
            with local_cluster(workers, quiet=True) as client:
                up = time.perf_counter()
                batch = fuse_many(items, outdir=folder / "out", base=folder, client=client)
                running = time.perf_counter() - up
                cpu = sum(client.run(_cpu_seconds).values())
            seconds = time.perf_counter() - start
            assert batch.count("done") == n, [r.error for r in batch.failed]
            figures[label] = (seconds, cpu, running)
        # in this process, its imports done and the fork server up: fuse_many with its
        # defaults (its own cluster) against a loop of fuse_files (kernels to load)
        shutil.rmtree(folder / "out", ignore_errors=True)
        start = time.perf_counter()
        batch = fuse_many(items, outdir=folder / "out", base=folder, quiet=True)
        inside = {"defaults": time.perf_counter() - start}
        assert batch.count("done") == n, [r.error for r in batch.failed]
        shutil.rmtree(folder / "out")
        os.makedirs(folder / "out")
        start = time.perf_counter()
        for item in items:
            fuse_files(folder / item["foreground"], folder / item["background"],
                       folder / item["output"], alpha=folder / item["alpha"], **PARAMETERS)
        inside["loop"] = time.perf_counter() - start
        _write_manifest(folder / "plain.csv", items)
        os.makedirs(folder / "plain")
        plain = {k: _plain(folder, "plain.csv", k) for k in (1, 2)}
        fresh = []  # (label, seconds): loop, command, command, loop
        for k, label in enumerate(("loop", "command", "command", "loop")):
            manifest = f"run{k}.csv"  # its own outputs, in run{k}/
            _write_manifest(folder / manifest,
                            [dict(item, output=f"run{k}/face_{j:02d}.png")
                             for j, item in enumerate(items)])
            argv = ([sys.executable, "-c", LOOP, manifest] if label == "loop" else
                    [sys.executable, "-m", "fastosmosis", "batch", manifest, "--quiet",
                     "-o", f"run{k}"])
            os.makedirs(folder / f"run{k}")
            fresh.append((label, _fresh(argv, folder)))
            assert len(glob.glob(str(folder / f"run{k}" / "face_*.png"))) == n
    print(f"throughput: {n} faces-sized rows (600 x 460 RGB, alpha_blur 5), one run each; "
          f"load average before {before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    for label, (seconds, cpu, running) in figures.items():
        print(f"  {label:10s} {seconds:6.1f} s  {n / seconds:.3f} rows/s, "
              f"{cpu / n:.2f} CPU s per row, {n / running:.3f} rows/s once the cluster is up")
    one, two = figures["1 worker"][0], figures["2 workers"][0]
    print(f"  2 workers / 1 worker, rows per second: {one / two:.2f}x (target >= 1.8x); "
          f"once the cluster is up: {figures['1 worker'][2] / figures['2 workers'][2]:.2f}x")
    print(f"  without Dask (the machine's reference): plain one-thread processes side by "
          f"side, 1: {plain[1]:.1f} s, 2: {plain[2]:.1f} s, {plain[1] / plain[2]:.2f}x")
    print("  fresh interpreters, start to exit: "
          + ", ".join(f"{label} {t:.1f} s" for label, t in fresh))
    loops = [t for label, t in fresh if label == "loop"]
    commands = [t for label, t in fresh if label == "command"]
    print(f"  command with its defaults / Python loop of fuse_files, rows per second: "
          f"{sum(loops) / sum(commands):.2f}x over both pairs ({fresh[0][1] / fresh[1][1]:.2f}x, "
          f"{fresh[3][1] / fresh[2][1]:.2f}x; target >= 1.0x)")
    print(f"  in this process (imports done, fork server up): fuse_many with its defaults "
          f"{inside['defaults']:.1f} s, loop of fuse_files {inside['loop']:.1f} s, "
          f"{inside['loop'] / inside['defaults']:.2f}x")
    print("  (CPU s per row: the workers' own CPU time, their start and imports included)")


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
