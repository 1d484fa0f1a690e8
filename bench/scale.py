"""Scale (issue 6, target 4): time per iteration per pixel from 1 to 16 megapixels, peak memory.

    python3 -m bench.scale [--sides 1024 2048 4096] [--dtypes float32 float64]
                           [--max-iter 3] [--memory-side 4096] [--no-memory]

Part 1, time. ``fastosmosis.fuse`` (exact scheme, docs/model.md 7 settings, one channel,
``max_iter`` iterations, tol 1e-300 so that every run does them all) on square images of
1, 4 and 16 megapixels made by tiling a 256 x 256 crop of the puppets example mirrored
into a seamless 512 x 512 period, so every size holds the same content and the block
iPiano takes the same steps: the per-iteration work per pixel is then the same, and so
should be the time. Prints ns per pixel per iPiano iteration and per primal-dual
iteration (the run's time divided by pixels x primal-dual iterations: the primal-dual
loop is most of the work), the best of a few runs, each started on a quiet machine
(``--quiet-wait``), the CPU other processes took meanwhile, and the spread (max / min - 1)
across sizes; target: within 20%.

Part 2, memory. In a fresh process: a 4096 x 4096 RGB uint8 fusion in float32 with
``max_iter`` 3; prints the peak resident set (VmHWM), the resident set before the call
(inputs) and the bytes per pixel of the peak; target: <= 2.5 GB. A second fresh process
runs 1 iteration under ``tracemalloc`` and lists the allocation sites live during the
first iteration of channel 0, largest first: which arrays the peak is made of.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEMORY_TARGET = 2.5e9
SPREAD_TARGET = 0.20


def tile_problem(side, channel=0):
    """f, b, alpha of side x side, a mirrored 256 x 256 puppets crop tiled periodically."""
    from ._data import load_puppets

    f, b, a = load_puppets()
    out = []
    for x in (f, b, a):
        c = x[150:406, 250:506, channel]
        period = np.block([[c, c[:, ::-1]], [c[::-1], c[::-1, ::-1]]])
        reps = -(-side // period.shape[0])
        out.append(np.ascontiguousarray(np.tile(period, (reps, reps))[:side, :side]))
    return tuple(out)


def time_per_pixel(side, dtype, max_iter, repeats, v_step="prox", quiet_wait=0.0):
    import fastosmosis

    from ._data import SETTINGS
    from .quiet import OthersCpu, wait_quiet

    f, b, a = tile_problem(side)
    opts = dict(SETTINGS, scheme="exact", solver="ipiano", v_step=v_step,
                dtype=np.dtype(dtype).type, max_iter=max_iter, tol=1e-300)
    fastosmosis.fuse(f[:16, :16], b[:16, :16], a[:16, :16], **opts)  # compile
    best, r, others = np.inf, None, 0.0
    for _ in range(repeats):
        if quiet_wait > 0:
            wait_quiet(idle=0.9, window=2.0, timeout=quiet_wait, log=lambda m: None)
        with OthersCpu() as meter:
            t = time.perf_counter()
            r = fastosmosis.fuse(f, b, a, **opts)
            sec = time.perf_counter() - t
        if sec < best:
            best, others = sec, meter.cores or 0.0
    n = side * side
    pd = int(r.pd_iterations[0].sum())
    return {"side": side, "megapixels": n / 1e6, "dtype": dtype, "seconds": best,
            "iterations": r.iterations[0], "pd_iterations": pd,
            "ns_per_pixel_iteration": best / (n * r.iterations[0]) * 1e9,
            "ns_per_pixel_pd_iteration": best / (n * max(pd, 1)) * 1e9, "others_cpu": others}


MEMORY_CHILD = r"""
import json, linecache, sys, time
import numpy as np
side, dtype, max_iter, trace = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
ROOT = {root!r}  # the working directory: ``python -c`` puts it first on sys.path
import fastosmosis
from bench._data import SETTINGS, load_puppets
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
f, b, a = load_puppets()
def grow(x):  # mirrored, so seamless, tiling to side x side
    p = np.concatenate([x, x[::-1]], 0)
    p = np.concatenate([p, p[:, ::-1]], 1)
    reps = (-(-side // p.shape[0]), -(-side // p.shape[1]), 1)
    return np.ascontiguousarray(np.tile(p, reps)[:side, :side])
f, b, a = (grow(x) for x in (f, b, a))
fastosmosis.fuse(f[:16, :16], b[:16, :16], a[:16, :16], max_iter=1,
                 dtype=np.dtype(dtype).type, solver="ipiano")
before = status("VmRSS")
sites = []
if trace:
    import tracemalloc
    tracemalloc.start()
    def callback(channel, iteration, energy):
        if channel == 0 and iteration == 1:
            snap = tracemalloc.take_snapshot()
            for st in snap.statistics("lineno")[:12]:
                fr = st.traceback[0]
                src = linecache.getline(fr.filename, fr.lineno).strip()
                sites.append([f"{{fr.filename.split(ROOT + '/')[-1]}}:{{fr.lineno}}",
                              st.size, st.count, src])
else:
    callback = None
t = time.perf_counter()
r = fastosmosis.fuse(f, b, a, **SETTINGS, dtype=np.dtype(dtype).type, max_iter=max_iter,
                     tol=1e-300, callback=callback, solver="ipiano")
seconds = time.perf_counter() - t
out = dict(side=side, dtype=dtype, max_iter=max_iter, rss_before=before,
           peak=status("VmHWM"), seconds=seconds, sites=sites,
           iterations=r.iterations)
if trace:
    out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
print("RESULT", json.dumps(out))
"""


def memory(side, dtype, max_iter, trace=False):
    code = MEMORY_CHILD.format(root=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, str(side), dtype, str(max_iter),
                           "1" if trace else "0"], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[7:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sides", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--max-iter", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--v-step", default="prox", choices=["prox", "explicit"])
    ap.add_argument("--memory-side", type=int, default=4096)
    ap.add_argument("--memory-dtype", default="float32")
    ap.add_argument("--quiet-wait", type=float, default=600.0,
                    help="before each timed run, wait up to this long for idle CPUs")
    ap.add_argument("--no-time", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg()[0]}
    if not args.no_time:
        rows = []
        print(f"time per pixel, exact scheme, v_step={args.v_step}, {args.max_iter} "
              "iPiano iterations, best of "
              f"{args.repeats} (load {os.getloadavg()[0]:.2f})")
        print("| dtype | size | MP | seconds | iPiano it. | primal-dual it. "
              "| ns/pixel/iPiano it. | ns/pixel/primal-dual it. | others_cpu |")
        print("|---|---|---|---|---|---|---|---|---|")
        for dtype in args.dtypes:
            for side in args.sides:
                r = time_per_pixel(side, dtype, args.max_iter, args.repeats, args.v_step,
                                   args.quiet_wait)
                rows.append(r)
                print(f"| {dtype} | {side}x{side} | {r['megapixels']:.1f} | "
                      f"{r['seconds']:.2f} | {r['iterations']} | {r['pd_iterations']} | "
                      f"{r['ns_per_pixel_iteration']:.1f} | "
                      f"{r['ns_per_pixel_pd_iteration']:.2f} | {r['others_cpu']:.2f} |",
                      flush=True)
            sel = [r for r in rows if r["dtype"] == dtype]
            for key in ("ns_per_pixel_iteration", "ns_per_pixel_pd_iteration"):
                vals = [r[key] for r in sel]
                spread = max(vals) / min(vals) - 1
                print(f"{dtype} {key}: spread {spread * 100:.0f}% "
                      f"({'PASS' if spread <= SPREAD_TARGET else 'MISS'} <= 20%)")
        report["time"] = rows
    if not args.no_memory:
        m = memory(args.memory_side, args.memory_dtype, args.max_iter)
        px = args.memory_side**2
        print(f"\npeak memory, {args.memory_side}x{args.memory_side} RGB uint8 inputs, "
              f"{args.memory_dtype}, max_iter {args.max_iter}: peak RSS "
              f"{m['peak'] / 1e9:.2f} GB = {m['peak'] / px:.0f} bytes/pixel "
              f"(before the call {m['rss_before'] / 1e9:.2f} GB; run {m['seconds']:.0f} s) "
              f"{'PASS' if m['peak'] <= MEMORY_TARGET else 'MISS'} <= 2.5 GB")
        t = memory(args.memory_side, args.memory_dtype, 1, trace=True)
        print(f"live allocations during iteration 1 of channel 0 (tracemalloc peak "
              f"{t['tracemalloc_peak'] / 1e9:.2f} GB):")
        for site, size, count, src in t["sites"]:
            if size >= 1e6:
                print(f"  {size / 1e6:8.1f} MB in {count:3d} blocks  {site}  {src}")
        report["memory"] = m
        report["memory_sites"] = t["sites"]
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
