"""Reading the files of one fusion: foreground, background, alpha map (or trimap).

:func:`read_inputs` turns three files into samples as ``fuse`` wants them: alpha
channels split off (or the foreground's taken as the alpha map with ALPHA ``-``), sizes
checked, a grey image promoted to the other's channels. What it drops or changes it
says through ``notes``, a callable taking one line (the command line prints them, a
batch keeps them). The steps are also public, for :func:`fastosmosis.jobs.fuse_files`,
whose background may have another size until it is registered: :func:`read_colour`,
:func:`read_alpha_source`, :func:`check_size`, :func:`match_channels`. :func:`sha256`
is the content hash the reports hold.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ._files import ImageFileError
from .io import read_alpha, read_image, split_alpha
from .validation import to_float

__all__ = [
    "as_samples",
    "check_alpha_channels",
    "check_size",
    "match_channels",
    "read_alpha_source",
    "read_colour",
    "read_inputs",
    "sha256",
    "shape_text",
]

HASH_BLOCK = 1 << 20  # bytes hashed at a time


def shape_text(shape):
    """``(150, 115, 3)`` -> ``"150 x 115 x 3"``, as the messages write shapes."""
    return " x ".join(str(n) for n in shape)


def sha256(path):
    """The SHA-256 of the file at ``path`` as hex digits, read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(HASH_BLOCK):
                digest.update(block)
    except OSError:
        return None  # read_image, called next, says what is wrong with the file
    return digest.hexdigest()


def _ignore(message):
    return None


def read_colour(path, notes=None, *, keep_alpha=False):
    """An image file's colour samples as stored, its info, and its alpha channel.

    Parameters
    ----------
    path : str or os.PathLike
    notes : callable or None
        Told when an alpha channel is dropped (unless ``keep_alpha``).
    keep_alpha : bool
        The caller uses the alpha channel: no note.

    Returns
    -------
    colour : numpy.ndarray
        ``(H, W)`` or ``(H, W, 3)`` samples of the stored type.
    info : ImageInfo
    alpha : numpy.ndarray or None
        The file's alpha channel, as stored.
    """
    array, info = read_image(path)
    colour, alpha = split_alpha(array, info)
    if alpha is not None and not keep_alpha:
        (notes or _ignore)(f"{os.fspath(path)}: alpha channel dropped")
    return colour, info, alpha


def read_alpha_source(alpha, foreground, fg_alpha, notes=None):
    """The alpha map ``fuse`` gets: the file ``alpha``, or with ``"-"`` the foreground's
    alpha channel ``fg_alpha`` (None: an error naming ``foreground``).

    Returns
    -------
    alpha_map : numpy.ndarray
        Floats in [0, 1].
    info : ImageInfo or None
        None for the foreground's alpha channel.
    source : str
        ``"file"`` or ``"foreground alpha channel"``.
    """
    notes = notes or _ignore
    if alpha == "-":
        if fg_alpha is None:
            raise ImageFileError(
                foreground,
                "has no alpha channel, so ALPHA cannot be '-' (give an alpha map file)",
            )
        return to_float(fg_alpha), None, "foreground alpha channel"
    if fg_alpha is not None:
        notes(f"{os.fspath(foreground)}: alpha channel dropped (give ALPHA as '-' to use it "
              "as the alpha map)")
    alpha_map, info = read_alpha(alpha)
    if info.has_alpha:
        notes(f"{os.fspath(alpha)}: alpha channel of the alpha map file dropped")
    return alpha_map, info, "file"


def check_size(path, shape, foreground, size):
    """Refuse the file ``path`` whose samples have ``shape`` when its height and width
    are not the foreground's ``size`` (the error names both files)."""
    if tuple(shape[:2]) != tuple(size[:2]):
        raise ImageFileError(
            path,
            f"size {shape_text(shape[:2])} differs from the foreground's "
            f"{shape_text(size[:2])} ({os.fspath(foreground)}; sizes are height x width)",
        )


def match_channels(fg, bg, foreground, background, notes=None):
    """``(fg, bg)`` with a grey one repeated to the other's channels (and a note)."""
    if fg.ndim == bg.ndim:
        return fg, bg
    grey_path = foreground if fg.ndim == 2 else background
    (notes or _ignore)(f"{os.fspath(grey_path)}: grey image used as RGB to match the "
                       "other image")
    if fg.ndim == 2:
        return np.repeat(fg[:, :, None], bg.shape[2], axis=2), bg
    return fg, np.repeat(bg[:, :, None], fg.shape[2], axis=2)


def check_alpha_channels(alpha, alpha_map, channels):
    """Refuse an alpha map with channels (RGB) for images of another channel count."""
    if alpha_map.ndim == 3 and alpha_map.shape[2] != channels:
        raise ImageFileError(
            alpha,
            f"alpha map has {alpha_map.shape[2]} channels but the images have {channels}",
        )


def read_inputs(foreground, background, alpha, notes=None, *, as_float=True):
    """Foreground, background, alpha as ``fuse`` takes them, their infos, and where
    alpha came from.

    Parameters
    ----------
    foreground, background : str or path
        The image files.
    alpha : str or path
        The alpha map file, or ``"-"``: the foreground's alpha channel.
    notes : callable or None
        Takes one line for each thing dropped or changed (alpha channels dropped, a grey
        image used as RGB).
    as_float : bool
        False leaves uint8 and uint16 images as they are, for ``fuse``, which converts
        one channel at a time: a large scan then never has float64 copies of whole
        images beside the solver's arrays.

    Returns
    -------
    (fg, bg, alpha), (fg_info, bg_info, alpha_info), alpha_source
        ``alpha_info`` is None and ``alpha_source`` "foreground alpha channel" for ALPHA
        ``-``; else ``alpha_source`` is "file".
    """
    fg_raw, fg_info, fg_alpha = read_colour(foreground, keep_alpha=True)
    alpha_map, alpha_info, alpha_source = read_alpha_source(alpha, foreground, fg_alpha,
                                                            notes)
    bg_raw, bg_info, _ = read_colour(background, notes)
    check_size(background, bg_raw.shape, foreground, fg_raw.shape)
    check_size(alpha, alpha_map.shape, foreground, fg_raw.shape)
    fg, bg = (as_samples(x, as_float) for x in (fg_raw, bg_raw))
    fg, bg = match_channels(fg, bg, foreground, background, notes)
    check_alpha_channels(alpha, alpha_map, 1 if fg.ndim == 2 else fg.shape[2])
    return (fg, bg, alpha_map), (fg_info, bg_info, alpha_info), alpha_source


def as_samples(x, as_float):
    """``x`` as floats in [0, 1], or (``as_float`` False) uint8 and uint16 kept as stored."""
    if not as_float and x.dtype in (np.uint8, np.uint16):
        return x
    return to_float(x)
