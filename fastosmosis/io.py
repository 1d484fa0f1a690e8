"""Image files for fastosmosis: reading, bit depths and atomic writing.

The solver works on floats in [0, 1]; files hold 8-bit, 16-bit or float samples.
This module is the one place where the two meet:

- :func:`read_image` returns the samples exactly as stored (no silent loss of bits)
  with an :class:`ImageInfo`; :func:`to_float` maps them to [0, 1] by the integer
  type's maximum (uint8 / 255, uint16 / 65535, floats as given).
- :func:`read_alpha` reads an alpha map the same way.
- :func:`write_image` clips to [0, 1], converts to the bit depth of a given input,
  and writes atomically (temporary file in the same folder, then ``os.replace``),
  refusing a format that cannot hold that bit depth and a path that is an input.

Formats are chosen by content when reading (a JPEG stream named ``.png`` reads as
JPEG) and by extension when writing. PNG goes through ``imagecodecs`` both ways,
because Pillow, imageio's default for PNG, reads a 16-bit RGB PNG as 8-bit without
a warning and cannot write one; TIFF goes through ``tifffile`` (8-bit, 16-bit and
float, grey or RGB); everything else is read with imageio's Pillow plugin.
"""

from __future__ import annotations

import os

import numpy as np

from ._files import ImageFileError, ImageInfo
from ._write import (
    OUTPUT_FORMATS,
    check_destination,
    check_output,
    encode_image,
    output_dtype,
    write_files_atomic,
    write_image,
)
from .validation import to_float

__all__ = [
    "ImageFileError",
    "ImageInfo",
    "OUTPUT_FORMATS",
    "check_destination",
    "check_output",
    "encode_image",
    "output_dtype",
    "read_alpha",
    "read_image",
    "split_alpha",
    "to_float",
    "write_files_atomic",
    "write_image",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

_READABLE_DTYPES = ("bool", "uint8", "uint16", "float16", "float32", "float64")


def _sniff(head):
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head[:4] in _TIFF_MAGICS:
        return "tiff"
    return None


def _open_error(path, exc):
    if isinstance(exc, FileNotFoundError):
        return ImageFileError(path, "no such file")
    if isinstance(exc, IsADirectoryError):
        return ImageFileError(path, "is a directory, not an image file")
    if isinstance(exc, PermissionError):
        return ImageFileError(path, "permission denied")
    return ImageFileError(path, f"cannot open ({exc.strerror or exc})")


def _read_png(data):
    import imagecodecs

    return imagecodecs.png_decode(data)


def _read_tiff(path):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        arr = page.asarray()
        photometric = int(page.photometric)
        planar_separate = int(page.planarconfig) == 2
        colormap = page.colormap
    if planar_separate and arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1)
    if photometric == 0:  # MINISWHITE: 0 is white
        if arr.dtype == bool:
            arr = ~arr
        elif arr.dtype.kind == "u":
            arr = np.iinfo(arr.dtype).max - arr
    elif photometric == 3 and colormap is not None:  # palette: expand to RGB
        cmap = np.asarray(colormap)
        arr = np.moveaxis(cmap[:, arr], 0, -1)
    elif photometric == 5:
        raise ValueError("CMYK (separated) TIFF is not supported; convert it to RGB")
    return np.ascontiguousarray(arr)


# Pillow modes that are not grey/RGB samples: convert on reading.
_PILLOW_CONVERT = {"CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "1": "L"}


def _read_pillow(path):
    import imageio.v3 as iio

    meta = iio.immeta(path, plugin="pillow", index=0)
    mode = _PILLOW_CONVERT.get(meta.get("mode"))
    # rotate=True applies the EXIF orientation, as viewers do.
    return iio.imread(path, plugin="pillow", index=0, mode=mode, rotate=True)


def read_image(path):
    """Read an image file with its samples as stored.

    Parameters
    ----------
    path : str or os.PathLike
        PNG (8/16-bit), TIFF (8/16-bit or float), JPEG, or anything else Pillow reads.
        The format is recognised by content, not by extension.

    Returns
    -------
    array : numpy.ndarray
        ``(H, W)`` for grey, ``(H, W, C)`` otherwise (C = 2 grey + alpha, 3 RGB,
        4 RGBA), of dtype bool, uint8, uint16 or float.
    info : ImageInfo

    Raises
    ------
    ImageFileError
        The file is missing, unreadable, not an image, or of an unsupported
        sample type or shape; the message names the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _open_error(path, exc) from None
    fmt = _sniff(data[:8])
    try:
        if fmt == "png":
            arr = _read_png(data)
        elif fmt == "tiff":
            arr = _read_tiff(path)
        else:
            arr = _read_pillow(path)
            fmt = _pillow_format(path)
    except Exception as exc:  # every decoder has its own exception types
        if fmt is None:
            problem = "not an image file that can be read (PNG, TIFF, JPEG, ...)"
        else:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problem = f"corrupt or unsupported {fmt.upper()} file ({detail})"
        raise ImageFileError(path, problem) from None
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] > 4) or 0 in arr.shape:
        raise ImageFileError(
            path, f"unsupported image shape {arr.shape}: expected H x W or H x W x C, C <= 4"
        )
    if arr.dtype.name not in _READABLE_DTYPES:
        raise ImageFileError(
            path, f"unsupported sample type {arr.dtype.name}: use 8-bit, 16-bit or float images"
        )
    has_alpha = arr.ndim == 3 and arr.shape[2] in (2, 4)
    return arr, ImageInfo(path, fmt, arr.dtype, arr.shape, has_alpha)


def _pillow_format(path):
    try:
        from PIL import Image

        with Image.open(path) as im:
            return (im.format or "unknown").lower()
    except Exception:
        return "unknown"


def split_alpha(array, info=None):
    """Split ``(colour, alpha)``; alpha is None when the image has no alpha channel.

    Grey + alpha (C = 2) gives an ``(H, W)`` colour part, RGBA an ``(H, W, 3)`` one.
    """
    has_alpha = (
        info.has_alpha if info is not None else array.ndim == 3 and array.shape[2] in (2, 4)
    )
    if not has_alpha:
        return array, None
    colour = array[:, :, :-1]
    if colour.shape[2] == 1:
        colour = colour[:, :, 0]
    return colour, array[:, :, -1]


def read_alpha(path):
    """Read an alpha map as floats in [0, 1].

    Integer samples are divided by their type's maximum (not rescaled by their own
    range); floats are taken as given. A grey file gives ``(H, W)``; an RGB file gives
    ``(H, W, 3)``, or ``(H, W)`` when its three channels are equal. An alpha channel
    in the file itself is dropped (``info.has_alpha`` tells the caller).

    Returns
    -------
    alpha : numpy.ndarray
    info : ImageInfo
    """
    array, info = read_image(path)
    colour, _ = split_alpha(array, info)
    alpha = to_float(colour)
    if alpha.ndim == 3 and all(
        np.array_equal(alpha[:, :, 0], alpha[:, :, c]) for c in range(1, alpha.shape[2])
    ):
        alpha = alpha[:, :, 0]
    return np.ascontiguousarray(alpha), info
