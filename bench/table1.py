"""Table I of the paper on its faces example: every method, every score, and the time.

    python3 -m bench.table1 [--fmi-feature edge] [--alpha-uses]

Issue 17. Runs :func:`fastosmosis.compare.methods` (the paper's seven methods, fuse
with both schemes) at the paper's settings (alpha blurred with sigma 5, eta 0.1,
mu 100, gamma 1) on the full-size faces (600 x 460) and scores each result as
``fastosmosis compare`` does (chromaticity error, BRISQUE, FMI). Prints the table, the
ratio of each chromaticity error to the paper's printed one, the ranking by it against
the paper's, and the total seconds (methods and scores, the first compilation of the
kernels excluded: they are compiled once before the clock starts). ``--alpha-uses``
also scores guided-filter and structure-aware fusion with ``alpha_use="blend"``
(the other reading of how alpha enters), and FMI with every feature for direct
matting.
"""

import argparse
import time

import numpy as np

from fastosmosis import baselines, compare
from fastosmosis.io import read_alpha, read_image
from fastosmosis.metrics import FMI_FEATURES, TABLE_I_FEATURE, chromaticity_score, fmi
from fastosmosis.model import SCHEMES

from ._data import DATA

SETTINGS = dict(eta=0.1, mu=100.0, gamma=1.0)  # the paper's Section V.B


def load_faces():
    """(f, b, alpha) of the faces example as float64, alpha blurred with sigma 5."""
    f = read_image(DATA / "4_foreground.png")[0] / 255.0
    b = read_image(DATA / "4_background.png")[0] / 255.0
    alpha = compare.blur_alpha(np.asarray(read_alpha(DATA / "4_alpha.png")[0], float), 5.0)
    return f, b, alpha


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fmi-feature", choices=FMI_FEATURES, default=TABLE_I_FEATURE)
    parser.add_argument("--alpha-uses", action="store_true")
    args = parser.parse_args(argv)
    f, b, alpha = load_faces()
    small = tuple(np.ascontiguousarray(x[:24, :20]) for x in (f, b, alpha))
    methods = compare.methods(SETTINGS, SCHEMES)
    compare.run_methods(methods, *small, fmi_feature=args.fmi_feature)  # compile first

    start = time.perf_counter()
    rows, skipped = compare.run_methods(methods, f, b, alpha, fmi_feature=args.fmi_feature)
    total = time.perf_counter() - start
    print(compare.table(rows, f, alpha, skipped, fmi_feature=args.fmi_feature), end="")
    print()
    print("ratio of err(u, f) to the paper's:")
    for r in rows:
        paper = compare.paper_values(r["label"])
        if r["all"] is not None and paper:
            print(f"  {r['label']:<18} {r['all']:.4f} / {paper[0]:.4f} = "
                  f"{r['all'] / paper[0]:.3f}")
    done = [r for r in rows if r["all"] is not None]
    ours = [r["label"] for r in sorted(done, key=lambda r: r["all"])]
    paper = sorted({compare.paper_values(label)[0]: label.split(" (")[0] for label in ours}
                   .items())
    print("ranking by err(u, f), best first:")
    print("  here:  " + " < ".join(ours))
    print("  paper: " + " < ".join(label for _, label in paper))
    methods_s = sum(r["seconds"] or 0.0 for r in rows)
    print(f"total {total:.1f} s for {len(rows)} runs and their scores "
          f"(methods {methods_s:.1f} s, scores {total - methods_s:.1f} s)")

    if args.alpha_uses:
        for name, function in (("guided filter", baselines.guided_fusion),
                               ("structure-aware", baselines.structure_aware)):
            for use in ("ignore", "blend"):
                u = function(f, b, alpha, alpha_use=use)
                print(f"{name} alpha_use={use}: err {chromaticity_score(u, f):.4f} "
                      f"(paper {compare.paper_values(name)[0]:.4f})")
        u = np.rint(np.clip(baselines.direct_matting(f, b, alpha), 0, 1) * 255) / 255
        f8, b8 = (np.rint(x * 255) / 255 for x in (f, b))
        for feature in FMI_FEATURES:
            print(f"direct matting FMI ({feature}): {fmi(f8, b8, u, feature=feature):.4f} "
                  "(paper 0.895)")


if __name__ == "__main__":
    main()
