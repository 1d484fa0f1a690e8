"""A 100-megapixel RGB scan through the command line, 16-bit TIFF in and out (issue 13).

    python3 -m bench.large_scan [--side 10000] [--workdir DIR] [--dtype float64]

Makes the inputs (the puppets example upsampled bilinearly to side x side: a 16-bit RGB
foreground and background and a 16-bit grey alpha, uncompressed TIFF), then runs

    python3 -m fastosmosis fuse FG BG ALPHA -o OUT.tif --report R.json --quiet

in a fresh process under GNU time and prints its wall time, its peak resident memory and
what the report says (iterations, stationarity, seconds per channel). Targets: <= 10
minutes wall time, <= 16 GB peak resident memory, at the default stationarity. The
inputs stay in ``--workdir`` (default: a temporary folder, removed at the end).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import zoom

from ._data import load_puppets


def make_inputs(folder, side):
    import tifffile

    f, b, a = load_puppets()
    scale = (side / f.shape[0], side / f.shape[1])
    paths = []
    for name, x in (("fg", f), ("bg", b), ("alpha", a[..., 0])):
        planes = [x] if x.ndim == 2 else [x[..., c] for c in range(x.shape[2])]
        out = np.empty((side, side) + (() if x.ndim == 2 else (len(planes),)), np.uint16)
        view = out.reshape(side, side, -1)
        for c, plane in enumerate(planes):
            up = zoom(plane / 255.0, scale, order=1)
            view[..., c] = np.rint(np.clip(up, 0, 1) * 65535).astype(np.uint16)
            del up
        path = Path(folder) / f"{name}.tif"
        tifffile.imwrite(path, out, photometric="rgb" if out.ndim == 3 else "minisblack")
        paths.append(path)
        del out
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=10000)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args(argv)
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="fastosmosis-scan-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        fg, bg, alpha = make_inputs(folder, args.side)
        print(f"inputs: {args.side} x {args.side}, 16-bit TIFF, in {folder} "
              f"({time.perf_counter() - t:.0f} s to make)", flush=True)
        out, report = folder / "out.tif", folder / "report.json"
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "fastosmosis", "fuse", str(fg),
               str(bg), str(alpha), "-o", str(out), "--report", str(report), "--quiet",
               "--dtype", args.dtype]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stderr[-3000:])
            raise SystemExit(f"fastosmosis fuse failed with status {run.returncode}")
        peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)[1])
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)",
                         run.stderr)[1]
        rep = json.loads(report.read_text())
        import tifffile

        with tifffile.TiffFile(out) as tif:
            page = tif.pages[0]
            shape, dtype = page.shape, page.dtype
        stationarity = [f"{c['stationarity'][-1]:.2g}" for c in rep["channels"]
                        if len(c["stationarity"])]
        print(f"fastosmosis fuse: wall {wall}, peak resident {peak / 1e6:.2f} GB, "
              f"output {shape} {dtype}")
        print(f"iterations {rep['iterations']}, stop {rep['stop_reasons']}, solver "
              f"{rep['seconds']:.0f} s (channels {[round(s) for s in rep['channel_seconds']]})"
              f", wall in the report {rep['wall_seconds']:.0f} s")
        if stationarity:
            print(f"stationarity per channel: {stationarity}")
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
