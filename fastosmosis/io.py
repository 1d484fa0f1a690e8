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

import contextlib
import os
import tempfile
from dataclasses import dataclass
from io import BytesIO

import numpy as np

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

#: Output extensions and the format each one selects.
OUTPUT_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
}

# Which sample types each output format can hold without losing bits.
_FORMAT_DTYPES = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "tiff": ("uint8", "uint16", "float16", "float32", "float64"),
}

_READABLE_DTYPES = ("bool", "uint8", "uint16", "float16", "float32", "float64")


class ImageFileError(ValueError):
    """An image file that cannot be read or written; the message names the file."""

    def __init__(self, path, problem):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read_image` found in a file.

    Attributes
    ----------
    path : str
        The file read.
    format : str
        ``"png"``, ``"tiff"``, ``"jpeg"`` or the Pillow format name in lower case.
    dtype : numpy.dtype
        The stored sample type (``uint8``, ``uint16``, ``float32``, ...).
    shape : tuple of int
        Shape of the array returned: ``(H, W)`` or ``(H, W, C)``.
    has_alpha : bool
        True for grey + alpha (C = 2) and RGBA (C = 4): the last channel is alpha.
    """

    path: str
    format: str
    dtype: np.dtype
    shape: tuple
    has_alpha: bool

    @property
    def bit_depth(self) -> str:
        """``"8"``, ``"16"`` or ``"float"``: the bit depth an output keeps."""
        return {"uint8": "8", "bool": "8", "uint16": "16"}.get(self.dtype.name, "float")


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


def output_dtype(like):
    """The sample type written for ``like`` (see :func:`write_image`); bool -> uint8."""
    if isinstance(like, ImageInfo):
        dtype = like.dtype
    elif isinstance(like, str) and like in ("8", "16", "float"):
        dtype = {"8": np.uint8, "16": np.uint16, "float": np.float32}[like]
    elif isinstance(like, np.ndarray):
        dtype = like.dtype
    else:
        dtype = like
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        dtype = np.dtype(np.uint8)
    if dtype.name not in ("uint8", "uint16", "float16", "float32", "float64"):
        raise ValueError(f"unsupported output sample type {dtype.name}")
    return dtype


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _depth_words(dtype):
    return {"uint8": "8-bit", "uint16": "16-bit"}.get(dtype.name, f"float ({dtype.name})")


def check_output(path, like, *, inputs=()):
    """Check, before any work, that ``path`` can take an image of ``like``'s depth.

    Parameters
    ----------
    path : str or os.PathLike
        The output file; its extension chooses the format (see ``OUTPUT_FORMATS``).
    like : ImageInfo, numpy dtype or array, or "8" / "16" / "float"
        The bit depth to keep.
    inputs : sequence of paths
        Files the output must not overwrite.

    Returns
    -------
    format : str
        ``"png"``, ``"jpeg"`` or ``"tiff"``.

    Raises
    ------
    ImageFileError
        Unknown extension, a format that cannot hold the bit depth, a path that is
        an input or a folder, or a folder that does not exist.
    """
    path = os.fspath(path)
    dtype = output_dtype(like)
    ext = os.path.splitext(path)[1].lower()
    fmt = OUTPUT_FORMATS.get(ext)
    if fmt is None:
        known = ", ".join(OUTPUT_FORMATS)
        raise ImageFileError(
            path, f"unknown output format {ext or '(no extension)'!r}; use {known}"
        )
    if dtype.name not in _FORMAT_DTYPES[fmt]:
        hint = ".png or .tif" if dtype == np.uint16 else ".tif"
        raise ImageFileError(
            path,
            f"{fmt.upper()} cannot hold {_depth_words(dtype)} samples without losing bits; "
            f"write {hint} instead",
        )
    check_destination(path, inputs=inputs)
    return fmt


def check_destination(path, *, inputs=()):
    """Check that a file may be written at ``path``: not an input, not a folder, in a
    folder that exists. Raises :class:`ImageFileError` otherwise."""
    for other in inputs:
        if other is not None and os.path.exists(other) and _same_file(path, other):
            raise ImageFileError(path, "refusing to overwrite an input file")
    if os.path.isdir(path):
        raise ImageFileError(path, "is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageFileError(path, f"folder {folder} does not exist")


def _convert(u, dtype):
    u = np.asarray(u)
    if u.ndim == 3 and u.shape[2] == 1:
        u = u[:, :, 0]
    if u.ndim not in (2, 3) or (u.ndim == 3 and u.shape[2] > 4):
        raise ValueError(f"cannot write an image of shape {u.shape}")
    if u.dtype == dtype and dtype.kind == "u":
        return np.ascontiguousarray(u)
    if u.dtype.kind == "u":
        u = to_float(u)
    if not np.all(np.isfinite(u)):
        raise ValueError("the image to write contains NaN or infinite values")
    u = np.clip(u, 0.0, 1.0)
    if dtype.kind == "u":
        u = np.rint(u * np.iinfo(dtype).max)
    return np.ascontiguousarray(u.astype(dtype))


def encode_image(path, u, *, like):
    """Encode ``u`` (floats in [0, 1], clipped) as the bytes of the file ``path`` would hold.

    The format comes from ``path``'s extension, the sample type from ``like`` (see
    :func:`check_output`, which this calls). Nothing is written.
    """
    fmt = check_output(path, like)
    dtype = output_dtype(like)
    data = _convert(u, dtype)
    if fmt == "png":
        import imagecodecs

        return bytes(imagecodecs.png_encode(data))
    if fmt == "tiff":
        import tifffile

        buf = BytesIO()
        rgb = data.ndim == 3 and data.shape[2] in (3, 4)
        tifffile.imwrite(
            buf,
            data,
            photometric="rgb" if rgb else "minisblack",
            extrasamples=("unassalpha",) if rgb and data.shape[2] == 4 else None,
            compression="zlib",
        )
        return buf.getvalue()
    import imageio.v3 as iio

    if data.ndim == 3 and data.shape[2] in (2, 4):
        raise ImageFileError(path, "JPEG cannot hold an alpha channel; write .png or .tif")
    return bytes(iio.imwrite("<bytes>", data, extension=".jpg", plugin="pillow", quality=95))


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_files_atomic(items):
    """Write ``[(path, bytes), ...]`` so that each file is either complete or untouched.

    Every file is first written to a temporary file in its own folder and synced;
    only when all of them are written are they renamed into place (``os.replace``,
    atomic on POSIX and Windows). On any error or interrupt, every temporary file is
    removed and no destination has changed.
    """
    temps = []
    try:
        for path, data in items:
            path = os.fspath(path)
            folder = os.path.dirname(os.path.abspath(path))
            try:
                fd, tmp = tempfile.mkstemp(
                    dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part"
                )
            except OSError as exc:
                raise ImageFileError(path, f"cannot write ({exc.strerror or exc})") from None
            temps.append(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        for k, (path, _) in enumerate(items):
            os.replace(temps[k], path)
            temps[k] = None
    finally:
        for tmp in temps:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def write_image(path, u, *, like, inputs=()):
    """Write ``u`` to ``path`` atomically at the bit depth of ``like``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; ``.png``, ``.jpg``/``.jpeg`` or ``.tif``/``.tiff``.
    u : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` floats in [0, 1] (values outside are clipped:
        ``round(clip(u, 0, 1) * max)`` for integer outputs), or integer samples of
        the output type, written as they are.
    like : ImageInfo, numpy dtype or array, or "8" / "16" / "float"
        The sample type to write: an input's ``ImageInfo`` keeps its bit depth.
    inputs : sequence of paths
        Files the output must not overwrite.

    Raises
    ------
    ImageFileError
        Unknown extension, a format that cannot hold the bit depth (16-bit or float
        into JPEG, float into PNG), an input path, or an unwritable folder. Nothing
        is written then.
    """
    check_output(path, like, inputs=inputs)
    write_files_atomic([(path, encode_image(path, u, like=like))])
