"""Resizing by separable sparse matrices: area averaging down, bilinear interpolation up.

A resize along one axis is a sparse matrix from the input's n samples to the output's m
samples, and a 2-D resize applies one along the rows and one along the columns. Pixel
centres sit at ``i + 0.5`` on both grids, so an output pixel j covers the input interval
``[j n/m, (j+1) n/m)``:

- :func:`area_matrix` averages the input over that interval, weighting each input pixel
  by its overlap (every weight > 0, each row summing to 1), so the mean of an indicator
  is 1 exactly where the whole footprint of the output pixel is inside the set;
- :func:`linear_matrix` interpolates linearly between the two input centres nearest to
  the output centre (held constant beyond the first and last centre).

Used by the matting (:mod:`fastosmosis.matting`) to solve at a reduced size.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

__all__ = ["area_matrix", "linear_matrix", "resize"]

_MIN_OVERLAP = 1e-9  # overlaps below this are rounding of the interval ends, not pixels


def area_matrix(m, n, dtype=np.float64):
    """The m x n CSR matrix that averages n samples into m (m <= n) by overlap."""
    if not 1 <= m <= n:
        raise ValueError(f"area_matrix: expected 1 <= m <= n, got m={m}, n={n}")
    edges = np.arange(m + 1) * (n / m)
    rows, cols, vals = [], [], []
    for j in range(m):
        lo, hi = edges[j], edges[j + 1]
        i = np.arange(int(np.floor(lo)), min(n, int(np.ceil(hi))))
        overlap = np.minimum(i + 1, hi) - np.maximum(i, lo)
        keep = overlap > _MIN_OVERLAP
        rows.append(np.full(int(keep.sum()), j))
        cols.append(i[keep])
        vals.append(overlap[keep] / overlap[keep].sum())
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals).astype(dtype), (np.concatenate(rows), np.concatenate(cols))),
        shape=(m, n),
    )


def linear_matrix(m, n, dtype=np.float64):
    """The m x n CSR matrix that interpolates n samples linearly onto m samples."""
    if m < 1 or n < 1:
        raise ValueError(f"linear_matrix: expected m, n >= 1, got m={m}, n={n}")
    x = np.clip((np.arange(m) + 0.5) * (n / m) - 0.5, 0.0, n - 1)
    left = np.floor(x).astype(np.int64)
    right = np.minimum(left + 1, n - 1)
    w = x - left
    rows = np.concatenate([np.arange(m), np.arange(m)])
    return scipy.sparse.csr_matrix(
        (np.concatenate([1.0 - w, w]).astype(dtype), (rows, np.concatenate([left, right]))),
        shape=(m, n),
    )


def resize(x, shape, kind, rows=None):
    """``x`` (H x W or H x W x C) resized to ``shape`` = (h, w) by ``kind`` "area" or
    "linear" matrices along the rows and then the columns; float32 stays float32.

    ``rows``, a slice of ``range(h)``, makes only those output rows (a band of the
    result, for a bounded memory); the default makes all ``h``.
    """
    x = np.asarray(x)
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    make = {"area": area_matrix, "linear": linear_matrix}[kind]
    (big_h, big_w), (h, w) = x.shape[:2], shape
    channels = x.shape[2:]
    flat = x.reshape(big_h, -1).astype(dtype, copy=False)
    along = make(h, big_h, dtype)
    if rows is not None:
        along = along[rows]
        h = along.shape[0]
    rows = along @ flat  # h x (W C)
    rows = rows.reshape(h, big_w, -1).transpose(1, 0, 2).reshape(big_w, -1)
    cols = make(w, big_w, dtype) @ rows  # w x (h C)
    out = cols.reshape(w, h, -1).transpose(1, 0, 2).reshape((h, w) + channels)
    return np.ascontiguousarray(out, dtype=dtype)
