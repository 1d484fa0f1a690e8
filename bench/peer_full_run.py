"""The scipy.sparse peer's full puppets run (published settings, three channels), timed once.

    nice python3 -m bench.peer_full_run [--out bench/baseline/peer_full_run.json]

Runs ``bench.peer_scipy.fuse_paper_scipy`` on each colour channel of the puppets example
with the settings of docs/model.md 7 (eta 0.5, mu 100, gamma 1, eps 0.05, tol 1e-6,
pd_tol 1e-4) and writes iterations, primal-dual iterations, energies, wall and CPU
seconds, the machine and the date to a JSON file. It takes about two minutes, too long
for every benchmark run: ``bench/bench_puppets.py`` divides this recorded figure by its
own run times for the headline ratio (peer seconds / our seconds).
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ._data import SETTINGS, load_puppets
from .peer_scipy import fuse_paper_scipy

OUT = Path(__file__).resolve().parent / "baseline" / "peer_full_run.json"


def machine():
    """CPU model, logical cores and RAM of this machine, from /proc where there is one."""
    model, mem = platform.processor() or "unknown", None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "ram_gib": mem,
            "python": platform.python_version()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    f, b, a = load_puppets()
    load_before = os.getloadavg()[0]
    channels = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for c in range(3):
        t, tc = time.perf_counter(), time.process_time()
        r = fuse_paper_scipy(f[..., c] / 255.0, b[..., c] / 255.0, a[..., c] / 255.0,
                             **SETTINGS, tol=1e-6, max_iter=10000)
        channels.append({
            "iterations": int(r["iterations"]),
            "pd_iterations": int(r["pd_iterations"].sum()),
            "energy": float(r["energies"][-1]),
            "stop_reason": r["stop_reason"],
            "seconds": time.perf_counter() - t,
            "cpu_seconds": time.process_time() - tc,
        })
        print(f"channel {c}: {channels[-1]}", flush=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    iters = sum(ch["iterations"] for ch in channels)
    out = {
        "what": "bench.peer_scipy.fuse_paper_scipy, puppets 563x800x3, docs/model.md 7 settings",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "channels": channels,
        "iterations": iters,
        "pd_iterations": sum(ch["pd_iterations"] for ch in channels),
        "energy": sum(ch["energy"] for ch in channels),
        "seconds": wall,
        "cpu_seconds": cpu,
        "seconds_per_ipiano_iteration": wall / iters,
        "numpy": np.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "channels"}, indent=1))


if __name__ == "__main__":
    main()
