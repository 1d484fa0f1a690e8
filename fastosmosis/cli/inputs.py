"""What the commands do before the solver: compile the kernels, then read the inputs.

:func:`compile_first` (``fuse`` and ``demo``) compiles (or loads) the kernels that fuse
will call, before any input is read, and says so when they must be compiled: on a fresh
install that is the first thing the user waits for. :func:`read_inputs` is the one way
the commands (``demo`` for its shipped files too) turn three files (foreground,
background, alpha map) into samples: alpha channels split off (or taken as the alpha map
with ALPHA ``-``), sizes checked, a grey image promoted to the other's channels, with
notes for what was dropped or changed.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..io import ImageFileError, read_alpha, read_image, split_alpha, to_float
from .console import shape_text


def compile_first(console, kwargs):
    """Compile (or load) the kernels that fuse will call with ``kwargs``, before reading
    any input, and say so on stderr when they must be compiled: that happens once."""
    import fastosmosis

    dtype = np.dtype(kwargs.get("dtype", np.float64)).name
    options = set(inspect.signature(fastosmosis.precompile).parameters) - {"announce"}

    def announce(names):
        console.status(f"compiling {len(names)} kernels for {dtype}; this happens once, "
                       f"later runs load them from Numba's cache")

    fastosmosis.precompile(**{k: v for k, v in kwargs.items() if k in options},
                           announce=announce)


def read_inputs(foreground, background, alpha, console, *, as_float=True):
    """Foreground, background, alpha as floats, their infos, and where alpha came from.

    Parameters
    ----------
    foreground, background : str or path
        The image files.
    alpha : str or path
        The alpha map file, or ``"-"``: the foreground's alpha channel.
    console : Console
        Takes the notes (alpha channels dropped, a grey image used as RGB).
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
    fg_raw, fg_info = read_image(foreground)
    fg_raw, fg_alpha = split_alpha(fg_raw, fg_info)
    if alpha == "-":
        if fg_alpha is None:
            raise ImageFileError(
                foreground,
                "has no alpha channel, so ALPHA cannot be '-' (give an alpha map file)",
            )
        alpha_map, alpha_info = to_float(fg_alpha), None
        alpha_source = "foreground alpha channel"
    else:
        if fg_alpha is not None:
            console.note(
                f"{foreground}: alpha channel dropped (give ALPHA as '-' to use it "
                "as the alpha map)"
            )
        alpha_map, alpha_info = read_alpha(alpha)
        alpha_source = "file"
        if alpha_info.has_alpha:
            console.note(f"{alpha}: alpha channel of the alpha map file dropped")
    bg_raw, bg_info = read_image(background)
    bg_raw, bg_alpha = split_alpha(bg_raw, bg_info)
    if bg_alpha is not None:
        console.note(f"{background}: alpha channel dropped")

    size = fg_raw.shape[:2]
    for path, other in [(background, bg_raw.shape[:2]), (alpha, alpha_map.shape[:2])]:
        if other != size:
            raise ImageFileError(
                path,
                f"size {shape_text(other)} differs from the foreground's "
                f"{shape_text(size)} ({foreground}; sizes are height x width)",
            )
    keep = () if as_float else (np.uint8, np.uint16)
    fg, bg = (x if x.dtype in keep else to_float(x) for x in (fg_raw, bg_raw))
    if fg.ndim != bg.ndim:
        grey_path = foreground if fg.ndim == 2 else background
        console.note(f"{grey_path}: grey image used as RGB to match the other image")
        if fg.ndim == 2:
            fg = np.repeat(fg[:, :, None], bg.shape[2], axis=2)
        else:
            bg = np.repeat(bg[:, :, None], fg.shape[2], axis=2)
    channels = 1 if fg.ndim == 2 else fg.shape[2]
    if alpha_map.ndim == 3 and alpha_map.shape[2] != channels:
        raise ImageFileError(
            alpha,
            f"alpha map has {alpha_map.shape[2]} channels but the images have {channels}",
        )
    return (fg, bg, alpha_map), (fg_info, bg_info, alpha_info), alpha_source
