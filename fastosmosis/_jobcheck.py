"""The checks of a file job before its first step, and the samples an output file holds.

Part of :mod:`fastosmosis.jobs`: :func:`check_path` (an argument that names a file),
:func:`check_fuse_keywords` (fuse's keywords, checked as fuse checks them, before a
registration or a matting that can take minutes), :func:`check_outputs` (every output
writable, none an input, none named twice), :func:`alpha_depth` (the bit depth of an alpha
map made by matting) and :func:`stored` (an image as a lossless
file of a given bit depth holds it).
"""

from __future__ import annotations

import os

from ._files import ImageFileError
from ._manifest import fuse_keywords, resolve_parameters
from ._write import (
    FORMAT_DTYPES,
    OUTPUT_FORMATS,
    check_destination,
    check_output,
    output_dtype,
    to_samples,
)
from .validation import to_float

__all__ = ["alpha_depth", "check_fuse_keywords", "check_outputs", "check_path", "stored"]

# the job's own keywords: fuse_files sets them (or, for arrays, they mean nothing here)
JOB_KEYWORDS = ("callback", "return_v", "channel_axis")


def check_path(name, value):
    """``value`` is a file path (str or os.PathLike); else TypeError naming ``name``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a file path, got {value!r}")


def check_fuse_keywords(kwargs):
    """Refuse, before any work, a keyword that :func:`fastosmosis.fuse` does not take or
    that the job sets itself (TypeError), and a value fuse would refuse (TypeError or
    ValueError naming the keyword, as fuse says it)."""
    known = fuse_keywords()
    for name in kwargs:
        if name in JOB_KEYWORDS:
            raise TypeError(f"{name}: set by the job itself, not a keyword of fuse_files")
        if name not in known:
            raise TypeError(f"{name}: not a keyword of fastosmosis.fuse (its keywords: "
                            f"{', '.join(known)})")
    resolve_parameters(kwargs)


def alpha_depth(fg_info, path=None):
    """The bit depth of an alpha map made by matting: ``"16"`` for a foreground of more
    than 8 bits where ``path``'s format holds uint16 (any format when ``path`` is None),
    else ``"8"``; ``fastosmosis alpha`` and ``fuse --trimap`` write it so."""
    if fg_info.bit_depth == "8":
        return "8"
    fmt = None if path is None else OUTPUT_FORMATS.get(os.path.splitext(os.fspath(path))[1]
                                                        .lower())
    return "16" if path is None or (fmt and "uint16" in FORMAT_DTYPES[fmt]) else "8"


def check_outputs(paths, like, bg_info, alpha_like, inputs):
    """Refuse, before any work, an output that cannot be written, that would overwrite
    an input, or that two keywords name.

    ``paths`` is ``{keyword: path or None}`` ("output", "save_v", "save_alpha",
    "save_registered", "report"); the result and v keep the depth of ``like``, alpha that
    of ``alpha_like``, the registered background that of ``bg_info``. The error for a
    path named twice is ``PATH: given both as KEYWORD and as KEYWORD`` (the command line
    puts its flags there).
    """
    inputs = [p for p in inputs if p is not None and os.fspath(p) != "-"]
    depth = {"output": like, "save_v": like, "save_alpha": alpha_like,
             "save_registered": bg_info}
    seen = {}
    for name in ("output", "save_v", "save_alpha", "save_registered", "report"):
        path = paths.get(name)
        if path is None:
            continue
        if name in depth:
            check_output(path, depth[name], inputs=inputs)
        else:
            check_destination(path, inputs=inputs)
        key = os.path.realpath(path)
        if key in seen:
            raise ImageFileError(path, f"given both as {seen[key]} and as {name}")
        seen[key] = name


def stored(image, like):
    """``image`` as a lossless file at ``like``'s bit depth holds it, read back as the
    readers give it (uint8 / uint16 samples, floats clipped to [0, 1] in the file's
    float type), so that a step's result fuses exactly as its saved file would: the
    samples of :func:`~fastosmosis._write.to_samples`, which :func:`encode_image` writes.
    """
    samples = to_samples(image, output_dtype(like))
    return samples if samples.dtype.kind == "u" else to_float(samples)
