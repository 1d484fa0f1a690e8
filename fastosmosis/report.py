"""The JSON report of one fusion from files (``fastosmosis fuse --report``, a batch row).

:func:`fuse_report` says what ran (the command line, when there is one), on what (each
input file with its format, shape, sample type and SHA-256), with which steps (the
registration's matrix, metric and seconds, the matting's method, solved size and
seconds, when they ran), with which result (parameters, per-channel iterations,
energies, primal-dual and CG counts, stop reasons, timings) and under which
:func:`versions`; :func:`jsonable` turns NumPy values, types and non-finite floats
(``null``) into what strict JSON can hold, and :func:`report_text` writes it.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform

import numpy as np

__all__ = ["PACKAGES", "file_entry", "fuse_report", "jsonable", "report_text",
           "similarity_of", "versions"]

PACKAGES = ("numpy", "numba", "scipy", "imageio", "imagecodecs", "tifffile")


def jsonable(value):
    """``value`` with NumPy arrays and scalars, types and dtypes made plain JSON values;
    NaN and infinities become None, anything else unknown its ``str``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, np.dtype):
        return value.name
    return str(value)


def versions():
    """Versions of Python, the platform and the packages a result depends on."""
    import fastosmosis

    found = {"fastosmosis": fastosmosis.__version__, "python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    found["platform"] = platform.platform()
    return found


def file_entry(info, sha256=None):
    """What the report says of an input file read as ``info`` (an ImageInfo)."""
    entry = {
        "path": info.path,
        "format": info.format,
        "shape": list(info.shape),
        "dtype": info.dtype.name,
    }
    if sha256 is not None:
        entry["sha256"] = sha256
    return entry


def similarity_of(matrix):
    """Scale, rotation and shift of the 3 x 3 homogeneous ``matrix`` (x = column,
    y = row): ``scale`` sqrt(|det A|) of its linear part A, ``rotation_degrees`` the
    angle of the rotation nearest A (exact for a similarity s R(theta)), ``shift`` its
    translation (x, y) in pixels."""
    m = np.asarray(matrix, dtype=np.float64)
    a = m[:2, :2]
    angle = math.degrees(math.atan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1]))
    return {
        "scale": math.sqrt(abs(float(np.linalg.det(a)))),
        "rotation_degrees": angle,
        "shift": [float(m[0, 2]), float(m[1, 2])],
    }


def fuse_report(*, command, inputs, result, output, v_path, out_dtype, wall_seconds,
                registration=None, matting=None):
    """The report of one fusion from files, as a dict of plain JSON values.

    Parameters
    ----------
    command : list of str or None
        The command line, program name first (None: a library call).
    inputs : dict
        ``{role: entry}`` for "foreground", "background", "alpha" (and "trimap"), each
        entry :func:`file_entry` of the file read, or for an alpha map that is no file
        ``{"path", "source", "shape"}``.
    result : FusionResult
    output, v_path : str or None
        The files written for u and (``save_v``) v.
    out_dtype : numpy.dtype
        Their sample type.
    wall_seconds : float
        Seconds of the whole job (reading to encoding).
    registration, matting : dict or None
        The steps that ran before the fusion: for the registration its ``transform``,
        ``matrix`` (FOREGROUND's pixel coordinates to BACKGROUND's), ``metric``,
        ``iterations``, ``seconds`` and where the registered image was saved; for the
        matting its ``method``, ``solved_shape``, ``seconds`` and where alpha was saved.
    """
    report = {
        "command": command,
        "inputs": inputs,
        "output": {
            "path": output,
            "shape": list(result.u.shape),
            "dtype": out_dtype.name,
            "v_path": v_path,
        },
        "parameters": result.parameters,
        "iterations": result.iterations,
        "pd_iterations_total": [int(np.sum(p)) for p in result.pd_iterations],
        "stop_reasons": result.stop_reasons,
        "seconds": result.seconds,
        "channel_seconds": result.channel_seconds,
        "wall_seconds": wall_seconds,
        "channels": _channel_report(result),
    }
    if registration is not None:
        report["registration"] = registration
    if matting is not None:
        report["matting"] = matting
    report["versions"] = versions()
    return jsonable(report)


def report_text(report):
    """``report`` as strict JSON text (no NaN), indented, one final newline."""
    return json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n"


def _channel_report(result):
    return [
        {
            "channel": c,
            "iterations": int(result.iterations[c]),
            "stop_reason": result.stop_reasons[c],
            "seconds": result.channel_seconds[c],
            "final_energy": (float(result.energies[c][-1]) if len(result.energies[c]) else None),
            "energies": result.energies[c],
            "pd_iterations_total": int(np.sum(result.pd_iterations[c])),
            "pd_iterations": result.pd_iterations[c],
            "linear_iterations": result.linear_iterations[c],
            "stationarity": result.stationarity[c],
        }
        for c in range(len(result.iterations))
    ]
