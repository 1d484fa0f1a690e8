"""Alpha from a trimap (issue 16, item 2): the puppets at full size and a 16-megapixel scan.

    python3 -m bench.matting [--skip-puppets] [--skip-large] [--megapixels 16]
                             [--factors 2 4 8] [--sweep]

1. The puppets (563 x 800): the trimap is ``trimap_from_alpha(1_alpha.png, erode=5)``
   (alpha == 1 and alpha == 0 each eroded by a disc of radius 5 px); for KNN and
   closed-form matting at full size it prints the mean absolute difference from the
   published alpha over the unknown pixels (target <= 0.12) and the seconds.
2. A 16-megapixel image with a trimap: the puppets enlarged bilinearly, their trimap
   enlarged by nearest neighbour, written to a temporary folder as PNG; a child process
   runs ``alpha_from_trimap`` with the defaults (``max_pixels=1_000_000``, so the
   matting runs at a reduced size and comes back by the guided filter) and prints its
   seconds and its peak resident memory (``ru_maxrss``; target <= 2 minutes and <= 6 GB).
   The child reads the PNGs itself, so the peak includes the image as the command
   line would hold it. Before, the parent times the fast guided upsampling alone at
   that size (twice).
3. The reduced-size quality (part of 1): the puppets solved at 2x, 4x and 8x reduction
   (``max_pixels`` = their pixels / factor^2) and brought back three ways from the same
   reduced alpha: bilinearly; by the old path (bilinear, then the guided filter under
   the full image, radius ceil(2 factor) full-size pixels, eps 1e-4); and by the fast
   guided filter ``alpha_from_trimap`` uses (He, Sun 2015). Each is printed as its mean
   absolute difference over the unknown pixels from the full-size solve and from the
   published alpha. ``--sweep`` adds the grid of the fast filter's radius and eps.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._data import DATA, have_puppets

CHILD = """
import json, resource, sys, time
from fastosmosis.io import read_image, split_alpha
from fastosmosis.matting import alpha_from_trimap
image = split_alpha(*read_image(sys.argv[1]))[0]
trimap = split_alpha(*read_image(sys.argv[2]))[0]
start = time.perf_counter()
result = alpha_from_trimap(image, trimap, method=sys.argv[3])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "solved_shape": result.solved_shape,
                  "shape": image.shape, "peak_mb": resource.getrusage(
                      resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def puppets():
    from fastosmosis.io import read_image, split_alpha

    image = split_alpha(*read_image(DATA / "1_foreground.png"))[0]
    alpha = split_alpha(*read_image(DATA / "1_alpha.png"))[0]
    return image, alpha[:, :, 0] if alpha.ndim == 3 else alpha


def full_size(methods):
    """The puppets at full size: prints the target figures, returns {method: alpha}."""
    from fastosmosis.matting import alpha_from_trimap, trimap_from_alpha

    image, alpha = puppets()
    trimap = trimap_from_alpha(alpha, erode=5)
    unknown = trimap == 128
    print(f"puppets {image.shape[0]} x {image.shape[1]}, {unknown.mean():.1%} unknown")
    alphas = {}
    for method in methods:
        start = time.perf_counter()
        result = alpha_from_trimap(image, trimap, method=method)
        seconds = time.perf_counter() - start
        mad = np.abs(result.alpha - alpha / 255.0)[unknown].mean()
        print(f"  {method:4s} MAD over unknown {mad:.4f} (target <= 0.12), {seconds:.1f} s")
        alphas[method] = result.alpha
    return alphas


def reduced_quality(full_alphas, factors, sweep):
    """Part 3: the three ways back from the same reduced alpha, against the full-size
    solve and the published alpha (MAD over the unknown pixels)."""
    from fastosmosis._area import resize
    from fastosmosis.filters import guided_filter, guided_upsample
    from fastosmosis.matting import (
        UPSAMPLE_EPS,
        UPSAMPLE_RADIUS,
        alpha_from_trimap,
        reduce_known,
        solve_shape,
        trimap_from_alpha,
        trimap_masks,
    )

    image, published = puppets()
    published = published / 255.0
    trimap = trimap_from_alpha(published, erode=5)
    fg, bg = trimap_masks(trimap, trimap.shape)
    unknown = ~(fg | bg)
    img = image / np.float32(255)
    height, width = trimap.shape

    def finish(alpha):
        alpha = alpha.copy()
        alpha[fg], alpha[bg] = 1.0, 0.0
        return np.clip(alpha, 0.0, 1.0)

    def mads(alpha, method):
        return (np.abs(alpha - full_alphas[method])[unknown].mean(),
                np.abs(alpha - published)[unknown].mean())

    print(f"reduced-size quality (MAD over unknown: against the full-size solve / against "
          f"the published alpha); fast guided filter radius {UPSAMPLE_RADIUS}, "
          f"eps {UPSAMPLE_EPS:g}")
    for method in full_alphas:
        for factor in factors:
            max_pixels = height * width // factor ** 2
            small = solve_shape((height, width), max_pixels)
            reduced = np.clip(resize(img, small, "area"), 0.0, 1.0)
            low_trimap = np.full(small, 128, np.uint8)
            low_trimap[reduce_known(fg, small)] = 255
            low_trimap[reduce_known(bg, small)] = 0
            low = alpha_from_trimap(reduced, low_trimap, method=method).alpha
            bilinear = resize(low, (height, width), "linear")
            radius = int(np.ceil(2 * max(height / small[0], width / small[1])))
            start = time.perf_counter()
            old = guided_filter(img, bilinear, radius, 1e-4)
            old_s = time.perf_counter() - start
            start = time.perf_counter()
            new = guided_upsample(low, reduced, img, UPSAMPLE_RADIUS, UPSAMPLE_EPS)
            new_s = time.perf_counter() - start
            direct = alpha_from_trimap(image, trimap, method=method, max_pixels=max_pixels)
            rows = [("bilinear", finish(bilinear), ""),
                    (f"old guided (r {radius})", finish(old), f", {old_s:.2f} s"),
                    ("fast guided", finish(new), f", {new_s:.2f} s"),
                    ("alpha_from_trimap", direct.alpha, f", {direct.seconds:.1f} s in all")]
            print(f"  {method:4s} {factor}x, solved at {small[0]} x {small[1]}:")
            for name, alpha, seconds in rows:
                vs_full, vs_published = mads(alpha, method)
                print(f"    {name:22s} {vs_full:.4f} / {vs_published:.4f}{seconds}")
            if sweep:
                for r in (1, 2, 4):
                    cells = []
                    for eps in (1e-6, 1e-5, 1e-4, 1e-3):
                        alpha = finish(guided_upsample(low, reduced, img, r, eps))
                        cells.append("eps {:g}: {:.4f} / {:.4f}".format(eps, *mads(alpha,
                                                                                method)))
                    print(f"      sweep r {r}: " + "; ".join(cells))


def enlarged(megapixels):
    """The puppets and their trimap enlarged to about ``megapixels`` million pixels."""
    from fastosmosis._area import resize
    from fastosmosis.matting import trimap_from_alpha

    image, alpha = puppets()
    trimap = trimap_from_alpha(alpha, erode=5)
    h, w = trimap.shape
    s = np.sqrt(megapixels * 1e6 / (h * w))
    big = (round(h * s), round(w * s))
    rows = ((np.arange(big[0]) + 0.5) * h / big[0]).astype(np.intp)
    cols = ((np.arange(big[1]) + 0.5) * w / big[1]).astype(np.intp)
    big_image = np.rint(resize(image / np.float32(255), big, "linear") * 255).astype(np.uint8)
    return big_image, trimap[rows[:, None], cols[None, :]]


def upsampling_alone(image):
    """Seconds of the fast guided upsampling alone at ``image``'s size, from the size
    the matting runs at by default (a random alpha there: the cost does not depend on it)."""
    from fastosmosis._area import resize
    from fastosmosis.filters import guided_upsample
    from fastosmosis.matting import UPSAMPLE_EPS, UPSAMPLE_RADIUS, solve_shape

    img = image / np.float32(255)
    small = solve_shape(img.shape[:2], 1_000_000)
    reduced = np.clip(resize(img, small, "area"), 0.0, 1.0)
    low = np.random.default_rng(0).random(small)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        guided_upsample(low, reduced, img, UPSAMPLE_RADIUS, UPSAMPLE_EPS)
        seconds.append(time.perf_counter() - start)
    print(f"  fast guided upsampling alone, {small[0]} x {small[1]} -> {img.shape[0]} x "
          f"{img.shape[1]}: " + ", ".join(f"{t:.2f} s" for t in seconds))


def large(megapixels, methods):
    from fastosmosis.io import write_image

    image, trimap = enlarged(megapixels)
    height, width = image.shape[:2]
    print(f"large: {height} x {width} ({height * width / 1e6:.1f} Mpx)")
    upsampling_alone(image)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(Path(tmp) / "image.png"), str(Path(tmp) / "trimap.png")]
        write_image(paths[0], image, like=image)
        write_image(paths[1], trimap, like=trimap)
        del image, trimap
        for method in methods:
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, *paths, method], check=True,
                                 capture_output=True, text=True)
            wall = time.perf_counter() - start
            child = json.loads(out.stdout.strip().splitlines()[-1])
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"  {method:4s} solved at {child['solved_shape'][0]} x "
                  f"{child['solved_shape'][1]}: {child['seconds']:.1f} s matting, "
                  f"{wall:.1f} s with reading and imports; peak RSS {child['peak_mb']:.0f} MB"
                  f" (largest child so far {peak:.0f} MB; targets 120 s, 6000 MB)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-puppets", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--megapixels", type=float, default=16.0)
    parser.add_argument("--methods", nargs="+", default=["knn", "cf"])
    parser.add_argument("--factors", nargs="*", type=int, default=[2, 4, 8],
                        help="reductions for the reduced-size quality (none: skip it)")
    parser.add_argument("--sweep", action="store_true",
                        help="also the fast guided filter's radius x eps grid")
    args = parser.parse_args(argv)
    if not have_puppets():
        sys.exit(f"the puppets example is not in {DATA}")
    if not args.skip_puppets:
        alphas = full_size(args.methods)
        if args.factors:
            reduced_quality(alphas, args.factors, args.sweep)
    if not args.skip_large:
        large(args.megapixels, args.methods)


if __name__ == "__main__":
    main()
