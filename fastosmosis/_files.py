"""What the image-file modules share: the error they raise and what a read tells."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


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
