"""Validated inputs: the one place where arrays and options given to the package are
checked and converted, for ``fuse`` and ``energy``, the baselines, the metrics and the
image files' samples.

Samples follow scikit-image's conventions: uint8 / 255, uint16 / 65535, floats as given
(finite, and non-negative where an image must be). As there, a wrong type raises
``TypeError`` and a wrong value ``ValueError``, naming the argument, before any work
starts.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

__all__ = ["Image", "as_float", "channels_last", "check_channel_axis", "check_choice",
           "check_number", "prepare", "resolve_dtype", "to_float", "working_dtype"]


class Image:
    """A validated input image, kept as the caller's array and converted channel by channel.

    Converting one channel at a time keeps the memory of a large colour image at one
    working channel instead of a float64 copy of the whole stack.
    """

    def __init__(self, name, x, *, nonnegative=True):
        x = np.asarray(x)
        if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer)
                                       or np.issubdtype(x.dtype, np.floating)):
            raise TypeError(f"{name}: unsupported dtype {x.dtype} "
                            "(use uint8, uint16 or float)")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: expected an H x W or H x W x C array, "
                             f"got shape {x.shape}")
        if x.size == 0:
            raise ValueError(f"{name}: empty array of shape {x.shape}")
        if np.issubdtype(x.dtype, np.integer):
            if x.dtype not in (np.uint8, np.uint16):
                raise TypeError(f"{name}: unsupported dtype {x.dtype} "
                                "(integer images must be uint8 or uint16)")
            self.divisor = float(np.iinfo(x.dtype).max)
        else:
            self.divisor = None
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{name}: contains NaN or infinite values")
            if nonnegative and np.any(x < 0):
                raise ValueError(f"{name}: contains negative values (min {x.min():.4g})")
        self.name, self.array = name, x
        self.shape = x.shape
        self.channels = 1 if x.ndim == 2 else x.shape[2]

    def max(self):
        return self.array.max() / (self.divisor or 1.0)

    def as_float64(self):
        """The whole image as float64 in [0, 1]."""
        if self.divisor is None:
            return self.array.astype(np.float64)
        return self.array.astype(np.float64) / self.divisor

    def channel(self, c, rows=slice(None)):
        """Channel c (those rows) as float64 in [0, 1]; a 2-D image is every channel."""
        x = self.array[rows] if self.array.ndim == 2 else \
            self.array[rows, :, min(c, self.channels - 1)]
        if self.divisor is None:
            return x.astype(np.float64)
        return x.astype(np.float64) / self.divisor


def check_number(name, value, *, positive=False, nonnegative=False, integer=False):
    """``value`` is a (whole) number, finite, and positive or non-negative if asked;
    else ValueError naming ``name``."""
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name}: expected a {'whole ' if integer else ''}number, "
                         f"got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name}: must be positive, got {value!r}")
    if nonnegative and not value >= 0:
        raise ValueError(f"{name}: must be non-negative, got {value!r}")


def check_choice(name, value, choices):
    """``value`` is one of the strings ``choices``; else ValueError naming ``name``."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {choices}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name}: unknown value {value!r}; expected one of {choices}")


DTYPES = (np.float32, np.float64)  # the working precisions


def resolve_dtype(dtype):
    """The NumPy scalar type float32 or float64 that ``dtype`` names; else ValueError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: unknown dtype {dtype!r}; expected float32 or float64") \
            from None
    if dt not in tuple(map(np.dtype, DTYPES)):
        raise ValueError(f"dtype: expected float32 or float64, got {dt}")
    return dt.type


def working_dtype(dtype, *arrays):
    """The working float type: ``dtype`` checked, or where it is None float32 if every
    array of ``arrays`` is float32 and float64 otherwise (scikit-image's convention)."""
    if dtype is None:
        kinds = {np.asarray(a).dtype for a in arrays}
        return np.float32 if kinds == {np.dtype(np.float32)} else np.float64
    return resolve_dtype(dtype)


def channels_last(x, channel_axis):
    """``x`` with its channel axis last (a view); a 2-D array is a grey image as it is."""
    x = np.asarray(x)
    if x.ndim != 3 or channel_axis in (-1, 2):
        return x
    return np.moveaxis(x, channel_axis, -1)


def check_channel_axis(channel_axis):
    """``channel_axis`` is an axis of a 3-D image (-3 to 2); else TypeError or ValueError."""
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, Integral):
        raise TypeError(f"channel_axis: expected an axis (an integer), got {channel_axis!r}")
    if not -3 <= channel_axis <= 2:
        raise ValueError(f"channel_axis: must be an axis of an H x W x C image (-3 to 2), "
                         f"got {channel_axis}")


def prepare(foreground, background, alpha):
    """Validated inputs (f, b, alpha as :class:`Image`) and the output shape."""
    f = Image("foreground", foreground)
    b = Image("background", background)
    if f.shape != b.shape:
        raise ValueError(f"background: shape {b.shape} differs from the foreground's "
                         f"{f.shape}")
    a = Image("alpha", alpha)
    if a.max() > 1:
        raise ValueError(f"alpha: values must lie in [0, 1], max is {a.max():.4g}")
    hw = f.shape[:2]
    if a.shape[:2] != hw or (a.array.ndim == 3 and a.channels not in (1, f.channels)):
        raise ValueError(f"alpha: shape {a.shape} does not fit the foreground's {f.shape} "
                         f"(expected {hw} or {hw + (f.channels,)})")
    return f, b, a, f.shape


def as_float(x, name: str, *, nonnegative: bool = True) -> np.ndarray:
    """``x`` as float64, as ``fuse`` converts its inputs: uint8 / 255, uint16 / 65535,
    floats as given; finite and (unless told otherwise) non-negative, else ValueError
    naming ``name``."""
    return Image(name, x, nonnegative=nonnegative).as_float64()


def to_float(array):
    """Samples to floats in [0, 1]: uint8 / 255, uint16 / 65535, floats as given.

    bool maps to 0 and 1; float32 (and float16, widened to float32) stays float32,
    everything else becomes float64.
    """
    array = np.asarray(array)
    if array.dtype == bool:
        return array.astype(np.float64)
    if array.dtype.kind == "u":
        return array / float(np.iinfo(array.dtype).max)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype.kind == "f":
        return array
    raise TypeError(f"unsupported sample type {array.dtype.name}")
