"""The BRISQUE score of an image through OpenCV's quality module.

A. Mittal, A. K. Moorthy, A. C. Bovik, "No-reference image quality assessment in the
spatial domain", IEEE Trans. Image Process. 21(12), 2012: natural-scene statistics of
the mean-subtracted, contrast-normalised image at two scales, mapped to a score (about
0 best, 100 worst) by a support vector regression trained on the LIVE database.
Parisotto et al.'s Table I cites for its BRISQUE column the NIQE article (Mittal,
Soundararajan, Bovik, IEEE Signal Process. Lett. 20(3), 2013), a different score.

OpenCV's ``cv2.quality.QualityBRISQUE_compute`` (the ``opencv-contrib-python-headless``
wheel, extra ``brisque``) needs the trained model and feature ranges, which its wheels
do not hold; this package ships them (``fastosmosis/data/brisque/``, Apache 2.0, from
opencv_contrib, with their licence and README) and reads them at run time.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._optional import require
from .validation import as_float, check_choice

__all__ = ["BRISQUE_CHANNELS", "brisque", "brisque_model_files"]

BRISQUE_CHANNELS = ("mean", "grey")
_MODEL = "brisque_model_live.yml"
_RANGE = "brisque_range_live.yml"


def brisque_model_files():
    """Traversable paths of the shipped model and range files (importlib.resources)."""
    folder = resources.files("fastosmosis.data") / "brisque"
    return folder / _MODEL, folder / _RANGE


def _to_uint8(x):
    """Clip to [0, 1] and round to 8 bits, as a file of the image would hold it."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def brisque(image, *, channels="mean"):
    """BRISQUE score of an image (lower: more natural), by OpenCV's implementation.

    Parameters
    ----------
    image : array_like, H x W or H x W x C
        uint8 / uint16 scaled to [0, 1], floats taken as given; clipped to [0, 1] and
        rounded to 8 bits first (OpenCV's model scores 8-bit images).
    channels : {"mean", "grey"}
        "mean": the score of each channel as a grey image, averaged (Table I's
        "average on color channels"); "grey": OpenCV's own handling of a colour image
        (an RGB image is passed as BGR and OpenCV converts it to grey), which gives
        12.31 on the faces example's full-size foreground.

    Returns
    -------
    float

    Raises
    ------
    MissingDependencyError
        If OpenCV's contrib build is not installed (with the install hint).
    """
    check_choice("channels", channels, BRISQUE_CHANNELS)
    x = as_float(image, "image", nonnegative=False)
    if x.ndim not in (2, 3) or min(x.shape[:2]) < 16:
        raise ValueError(f"image: BRISQUE needs an H x W (x C) image at least 16 pixels "
                         f"on a side, got shape {x.shape}")
    cv2 = require("cv2", "the BRISQUE score")
    model, ranges = brisque_model_files()
    with resources.as_file(model) as model_path, resources.as_file(ranges) as range_path:
        def score(img):
            return float(cv2.quality.QualityBRISQUE_compute(
                np.ascontiguousarray(img), str(model_path), str(range_path))[0])

        x8 = _to_uint8(x)
        if x8.ndim == 2:
            return score(x8)
        if channels == "grey" and x8.shape[2] == 3:
            return score(x8[..., ::-1])  # RGB -> OpenCV's BGR
        return float(np.mean([score(x8[..., c]) for c in range(x8.shape[2])]))
