"""Full runs of the paper's examples per scheme and solver option, and the README tables.

    python3 -m bench.puppets [--examples puppets faces] [--threads N]

For each example (puppets: docs/model.md 7-8 settings; faces: alpha blur 5, eta 0.1) and each
run of RUNS, prints iterations per channel, primal-dual iterations, the final energy as
``fastosmosis.energy`` evaluates it, seconds around ``fuse`` (after compilation), the
stationarity (worst channel, tests/stationarity.py) and the PSNR (8-bit, results
clipped to [0, 1]) against the default run (solver "bcd", float64, stationarity 1e-7).
"""

import argparse
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np

import fastosmosis
from fastosmosis import fuse

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EXAMPLES = {
    "puppets": ("1", dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)),
    "faces": ("4", dict(eta=0.1, mu=100.0, gamma=1.0, epsilon=0.05, alpha_blur=5.0)),
}
IP = dict(solver="ipiano")
RUNS = {
    "bcd (default)": dict(),
    "bcd, float32": dict(dtype=np.float32),
    "ipiano, exact, prox (the default until 2026-12)": dict(IP),
    "paper": dict(scheme="paper"),
    "ipiano, prox, pd_tol_rel 1e-2": dict(IP, pd_tol_rel=1e-2),
    "ipiano, prox, pd_tol_rel 0.1, gtol 1e-3": dict(IP, pd_tol_rel=0.1, gtol=1e-3),
    "ipiano, explicit v-step": dict(IP, v_step="explicit"),
    "ipiano, explicit v-step, gtol 1e-3": dict(IP, v_step="explicit", gtol=1e-3),
    "ipiano, explicit v-step, gtol 1e-3, float32": dict(IP, v_step="explicit", gtol=1e-3,
                                                        dtype=np.float32),
    "ipiano, explicit v-step, multiscale": dict(IP, v_step="explicit", multiscale=True),
    "ipiano, explicit v-step, multiscale, float32": dict(IP, v_step="explicit",
                                                         multiscale=True, dtype=np.float32),
    "ipiano, explicit v-step, multiscale, gtol 1e-3, float32": dict(
        IP, v_step="explicit", multiscale=True, gtol=1e-3, dtype=np.float32),
}



def load(prefix):
    return tuple(iio.imread(DATA / f"{prefix}_{k}.png") for k in ("foreground", "background",
                                                                   "alpha"))


def main(argv=None):
    from tests.reference import psnr
    from tests.stationarity import stationarity

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", nargs="+", default=list(EXAMPLES), choices=list(EXAMPLES))
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    for name in args.examples:
        prefix, model = EXAMPLES[name]
        f, b, a = load(prefix)
        for opts in RUNS.values():  # compile every variant outside the timings
            fuse(f[:8, :8], b[:8, :8], a[:8, :8], max_iter=2, **opts)
        print(f"\n{name}: {model}, threads {args.threads or 'default'}\n")
        print("| run | iterations | primal-dual | energy | seconds | stationarity | PSNR |")
        print("|---|---|---|---|---|---|---|")
        reference = None
        for label in [r for r in RUNS if r in args.runs or r == "bcd (default)"]:
            t = time.perf_counter()
            r = fuse(f, b, a, threads=args.threads, **model, **RUNS[label])
            sec = time.perf_counter() - t
            kw = {k: v for k, v in model.items()}
            e = fastosmosis.energy(r.u, r.v, f, b, a, **kw).sum()
            st = max(stationarity(r.u, r.v, f, b, a, **kw))
            reference = r.u if reference is None else reference
            print(f"| {label} | {' / '.join(map(str, r.iterations))} | "
                  f"{sum(int(p.sum()) for p in r.pd_iterations):,} | {e:,.3f} | {sec:.2f} | "
                  f"{st:.2g} | {psnr(r.u, reference):.1f} |", flush=True)


if __name__ == "__main__":
    main()
