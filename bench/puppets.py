"""Full puppets runs (MODEL.md 7-8) per scheme and dtype, and the table for the README.

    python3 -m bench.puppets [--schemes exact paper] [--dtypes float64 float32]

Prints, per run: iterations per channel, primal-dual iterations, the final energy as
``fastosmosis.energy`` evaluates it, seconds (after compilation), the stationarity ratio
(MODEL.md 8), and the PSNR (8-bit, results clipped to [0, 1]) against the first run.
"""

import argparse
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np

import fastosmosis
from fastosmosis import fuse

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETTINGS = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)


def load(name="1"):
    return tuple(iio.imread(DATA / f"{name}_{k}.png") for k in ("foreground", "background",
                                                                 "alpha"))


def psnr(a, b):
    mse = np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schemes", nargs="+", default=["exact", "paper"])
    ap.add_argument("--dtypes", nargs="+", default=["float64"])
    args = ap.parse_args(argv)
    f, b, a = load()
    fuse(f[:8, :8], b[:8, :8], a[:8, :8], max_iter=2)  # compile outside the timings
    first = None
    print("| run | iterations | primal-dual | energy | seconds | stationarity | PSNR |")
    print("|---|---|---|---|---|---|---|")
    from tests.stationarity import stationarity

    for scheme in args.schemes:
        for dtype in args.dtypes:
            t = time.perf_counter()
            r = fuse(f, b, a, scheme=scheme, dtype=np.dtype(dtype).type, **SETTINGS)
            sec = time.perf_counter() - t
            e = fastosmosis.energy(r.u, r.v, f, b, a, **SETTINGS).sum()
            st = max(stationarity(r.u, r.v, f, b, a, **SETTINGS))
            first = r.u if first is None else first
            print(f"| {scheme} {dtype} | {' / '.join(map(str, r.iterations))} | "
                  f"{sum(int(p.sum()) for p in r.pd_iterations)} | {e:,.3f} | {sec:.1f} | "
                  f"{st:.2g} | {psnr(r.u, first):.1f} |", flush=True)


if __name__ == "__main__":
    main()
