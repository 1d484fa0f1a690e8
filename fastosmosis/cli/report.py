"""The JSON report of ``fastosmosis fuse --report FILE.json``.

:func:`fuse_report` writes what ran (the command line), on what (the input files), with
which result (parameters, per-channel iterations, energies, primal-dual and CG counts,
stop reasons, timings) and under which :func:`versions`; :func:`jsonable` turns NumPy
values, types and non-finite floats (``null``) into what strict JSON can hold.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform

import numpy as np

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


def fuse_report(*, command, infos, alpha_path, alpha_source, alpha_shape, result, output,
                v_path, out_dtype, wall_seconds):
    """The report of one ``fuse`` run, as JSON text.

    Parameters
    ----------
    command : list of str
        The command line, program name first.
    infos : tuple of ImageInfo
        Foreground, background and alpha map file (None: the foreground's alpha channel).
    alpha_path, alpha_source : str
        ALPHA as given, and where alpha came from ("file" or "foreground alpha channel").
    alpha_shape : tuple of int
        The shape of the alpha map fuse got.
    result : FusionResult
    output, v_path : str or None
        The files written for u and (``--save-v``) v.
    out_dtype : numpy.dtype
        Their sample type.
    wall_seconds : float
        Seconds since the process started.
    """
    fg_info, bg_info, alpha_info = infos
    report = {
        "command": command,
        "inputs": {
            "foreground": _file_entry(fg_info),
            "background": _file_entry(bg_info),
            "alpha": dict(
                _file_entry(alpha_info) if alpha_info else {"path": alpha_path},
                source=alpha_source,
                shape=list(alpha_shape),
            ),
        },
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
        "versions": versions(),
    }
    return json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n"


def _file_entry(info):
    return {
        "path": info.path,
        "format": info.format,
        "shape": list(info.shape),
        "dtype": info.dtype.name,
    }


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
