"""The default solver ("bcd") against the model's minimiser and against iPiano (issue 13).

    python3 -m bench.minimiser [--targets accuracy speed scale float32] [--rounds 3]
        [--mpx 0.45 1.8 4 7.2 16 64] [--threads N]

- accuracy: on both examples (puppets: docs/model.md 7 settings; faces: alpha blur 5, eta
  0.1) the default's u against the reference minimiser of ``tests/reference.py`` (SciPy's
  sparse direct solve for every u-block; one to two minutes an example): 8-bit PSNR
  (clipped to [0, 1]; target >= 50 dB) and the worst channel's stationarity (<= 1e-6).
- speed: the whole ``fuse`` call on the puppets, the default against iPiano's default
  (``solver="ipiano"``, the package's default before), after compilation, ``--rounds``
  rounds each in turns; the ratio of the minima and the median ratio of the turns
  (target >= 5x, stretch 10x).
- scale: the puppets upsampled (bilinear) to each ``--mpx`` size, RGB up to 16 Mpx and
  the red channel above: seconds per megapixel and channel, outer and conjugate-gradient
  iterations, the worst stationarity; the ratios max / min of time per pixel and of
  outer iterations (targets: both within 1.5x).
- float32: what the default reaches in float32 (stationarity, PSNR to float64, seconds,
  the work memory saved).
- figure: ``docs/minimiser-puppets.jpg``, iPiano's default result beside the default's
  (the minimiser) on the puppets, and their difference, where it is largest.
"""

import argparse
import time

import numpy as np
from scipy.ndimage import zoom

from fastosmosis import fuse, memory_needed

from . import puppets

EXAMPLES = {
    "puppets": ("1", dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)),
    "faces": ("4", dict(eta=0.1, mu=100.0, gamma=1.0, epsilon=0.05, alpha_blur=5.0)),
}


def load(prefix):
    """Foreground and background as stored (uint8), alpha as floats in [0, 1]."""
    f, b, a = puppets.load(prefix)
    return f, b, (a if a.ndim == 2 else a[..., 0]) / 255.0


def header(title, *columns):
    """Print a section title and a Markdown table's head."""
    print(f"\n## {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def worst(r):
    return max(float(s[-1]) for s in r.stationarity)


def counts(r):
    return "/".join(map(str, r.iterations)), int(sum(x.sum() for x in r.linear_iterations))


def accuracy(threads):
    from tests.reference import minimiser_of, psnr

    header("accuracy: the default against the reference minimiser", "example",
           "outer iterations", "CG iterations", "seconds", "stationarity (worst)",
           "PSNR to the minimiser", "iPiano default: PSNR")
    for name, (prefix, model) in EXAMPLES.items():
        f, b, a = load(prefix)
        r = fuse(f, b, a, threads=threads, **model)
        old = fuse(f, b, a, threads=threads, solver="ipiano", **model)
        ref = minimiser_of(f, b, a, **model)
        its, cg = counts(r)
        print(f"| {name} | {its} | {cg} | {r.seconds:.2f} | {worst(r):.2g} | "
              f"{psnr(r.u, ref):.1f} dB | {psnr(old.u, ref):.1f} dB |", flush=True)


def speed(threads, rounds):
    f, b, a = load("1")
    model = EXAMPLES["puppets"][1]
    runs = {"bcd (default)": dict(), "ipiano (the default before)": dict(solver="ipiano")}
    times = {k: [] for k in runs}
    last = {}
    for _ in range(rounds):
        for label, opts in runs.items():
            t = time.perf_counter()
            last[label] = fuse(f, b, a, threads=threads, **model, **opts)
            times[label].append(time.perf_counter() - t)
    new, old = (np.array(times[k]) for k in runs)
    header(f"speed: the puppets example, {rounds} rounds in turns", "run", "iterations",
           "seconds (min / median)", "stationarity (worst)")
    for label, t in zip(runs, (new, old), strict=True):
        print(f"| {label} | {counts(last[label])[0]} | {t.min():.2f} / "
              f"{np.median(t):.2f} | {worst(last[label]):.2g} |")
    print(f"\nratio of the minima: {old.min() / new.min():.1f}x; median ratio in turns: "
          f"{np.median(old / new):.1f}x (target >= 5x, stretch 10x)")


def upsampled(f, b, a, mpx, channels):
    """The puppets bilinearly upsampled to about ``mpx`` megapixels (floats in [0, 1])."""
    s = np.sqrt(mpx * 1e6 / (f.shape[0] * f.shape[1]))
    out = []
    for x in (f[..., :channels] / 255.0, b[..., :channels] / 255.0, a):
        factors = (s, s) + (1,) * (x.ndim - 2)
        out.append(np.clip(zoom(x, factors, order=1), 0.0, 1.0))
    return out


def scale(threads, sizes):
    f, b, a = load("1")
    model = EXAMPLES["puppets"][1]
    header("scale: the puppets upsampled", "Mpx", "channels", "outer iterations",
           "CG iterations", "seconds", "s per Mpx and channel", "stationarity (worst)")
    per_px, outer = [], []
    for mpx in sizes:
        channels = 3 if mpx <= 16 else 1
        fu, bu, au = upsampled(f, b, a, mpx, channels)
        if channels == 1:
            fu, bu = fu[..., 0], bu[..., 0]
        r = fuse(fu, bu, au, threads=threads, **model)
        px = au.size / 1e6
        per = r.seconds / (px * channels)
        per_px.append(per)
        outer.append(max(r.iterations))
        its, cg = counts(r)
        print(f"| {px:.2f} | {channels} | {its} | {cg} | {r.seconds:.1f} | {per:.3f} | "
              f"{worst(r):.2g} |", flush=True)
        del fu, bu, au, r
    print(f"\ntime per pixel max / min: {max(per_px) / min(per_px):.2f}x; outer iterations "
          f"max / min: {max(outer) / min(outer):.2f}x (targets: both <= 1.5x)")


def float32(threads):
    from tests.reference import psnr

    header("float32", "example", "dtype", "outer iterations", "seconds",
           "stationarity (worst)", "stop", "PSNR to float64", "work memory")
    for name, (prefix, model) in EXAMPLES.items():
        f, b, a = load(prefix)
        r64 = fuse(f, b, a, threads=threads, **model)
        for dt, r in ((np.float64, r64), (np.float32, fuse(f, b, a, threads=threads,
                                                           dtype=np.float32, **model))):
            mem = memory_needed(f.shape, dt) / 1e6
            print(f"| {name} | {np.dtype(dt).name} | {counts(r)[0]} | {r.seconds:.2f} | "
                  f"{worst(r):.2g} | {', '.join(sorted(set(r.stop_reasons)))} | "
                  f"{psnr(r.u, r64.u):.1f} dB | {mem:.0f} MB |", flush=True)


def figure(threads, path):
    import imageio.v3 as iio

    f, b, a = load("1")
    model = EXAMPLES["puppets"][1]
    new = fuse(f, b, a, threads=threads, **model).u
    old = fuse(f, b, a, threads=threads, solver="ipiano", **model).u
    diff = np.abs(new - old).mean(axis=2)
    side = 240  # the window where the two differ most
    means = np.cumsum(np.cumsum(np.pad(diff, ((1, 0), (1, 0))), 0), 1)
    win = means[side:, side:] - means[:-side, side:] - means[side:, :-side] \
        + means[:-side, :-side]
    i, j = np.unravel_index(np.argmax(win), win.shape)
    sl = (slice(i, i + side), slice(j, j + side))
    gap = np.full((side, 6, 3), 255, np.uint8)

    def rgb8(x):
        return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)

    amplified = np.repeat(np.clip(5 * diff[sl], 0, 1)[..., None], 3, axis=2)
    panel = np.concatenate([rgb8(f[sl] / 255.0), gap, rgb8(old[sl]), gap, rgb8(new[sl]), gap,
                            rgb8(1 - amplified)], axis=1)
    iio.imwrite(path, panel, quality=92)
    print(f"\nwrote {path}: rows {i}-{i + side}, columns {j}-{j + side}; foreground | "
          f"iPiano default | minimiser (default) | 5 x |difference| (dark: large); mean "
          f"|difference| there {diff[sl].mean():.3f}, where alpha = 0 "
          f"{diff[a == 0].mean():.3f}, where alpha = 1 {diff[a == 1].mean():.2g}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    targets = ["accuracy", "speed", "scale", "float32", "figure"]
    ap.add_argument("--targets", nargs="+", default=targets, choices=targets)
    ap.add_argument("--figure", default="docs/minimiser-puppets.jpg")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mpx", type=float, nargs="+", default=[0.45, 1.8, 4.0, 7.2, 16.0, 64.0])
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    f, b, a = load("4")
    for dt in (np.float64, np.float32):  # compile outside the timings
        fuse(f[:20, :20], b[:20, :20], a[:20, :20], dtype=dt, max_iter=2)
        fuse(f[:20, :20], b[:20, :20], a[:20, :20], dtype=dt, max_iter=2, solver="ipiano")
    if "accuracy" in args.targets:
        accuracy(args.threads)
    if "speed" in args.targets:
        speed(args.threads, args.rounds)
    if "scale" in args.targets:
        scale(args.threads, args.mpx)
    if "float32" in args.targets:
        float32(args.threads)
    if "figure" in args.targets:
        figure(args.threads, args.figure)


if __name__ == "__main__":
    main()
