"""The puppets example and its published settings, for the benchmarks (docs/model.md 7)."""

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETTINGS = dict(eta=0.5, mu=100.0, gamma=1.0, epsilon=0.05)  # docs/model.md 7, with osm 1


def have_puppets():
    return (DATA / "1_foreground.png").exists()


def load_puppets():
    """(foreground, background, alpha) as uint8 563 x 800 x 3 arrays."""
    import imageio.v3 as iio

    return tuple(iio.imread(DATA / f"1_{k}.png") for k in ("foreground", "background",
                                                             "alpha"))


def puppets_channel_crop(side, rows=150, cols=250, channel=0):
    """A side x side crop of one channel as float64 in [0, 1] (default: the red channel
    from row 150, column 250, inside the puppets' boundary)."""
    sl = (slice(rows, rows + side), slice(cols, cols + side), channel)
    return tuple(np.ascontiguousarray(x[sl] / 255.0) for x in load_puppets())
