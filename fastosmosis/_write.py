"""Writing image files: the output's bit depth, checks before any work, atomic writes.

Part of :mod:`fastosmosis.io` (which re-exports these names): :func:`write_image` clips
to [0, 1], converts to the bit depth of a given input and writes atomically (a temporary
file in the same folder, then ``os.replace``), refusing a format that cannot hold that
bit depth and a path that is an input.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from io import BytesIO

import numpy as np

from ._files import ImageFileError, ImageInfo
from .validation import to_float

#: Output extensions and the format each one selects.
OUTPUT_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
}

# Which sample types each output format can hold without losing bits.
FORMAT_DTYPES = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "tiff": ("uint8", "uint16", "float16", "float32", "float64"),
}


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
    if dtype.name not in FORMAT_DTYPES[fmt]:
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


def _writable(u):
    u = np.asarray(u)
    if u.ndim == 3 and u.shape[2] == 1:
        u = u[:, :, 0]
    if u.ndim not in (2, 3) or (u.ndim == 3 and u.shape[2] > 4):
        raise ValueError(f"cannot write an image of shape {u.shape}")
    return u


def to_samples(u, dtype):
    """``u`` (floats in [0, 1], clipped; or uint8 / uint16 samples) as ``dtype``'s samples,
    exactly as :func:`encode_image` puts them into a file: integers rounded from
    ``u * max``, floats clipped to [0, 1]."""
    u, dtype = np.asarray(u), np.dtype(dtype)
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
    data = to_samples(_writable(u), dtype)
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
