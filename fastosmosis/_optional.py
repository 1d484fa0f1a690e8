"""Optional dependencies: imported where a feature needs them, with the install hint.

Registration (SimpleITK), matting (pymatting), batches (dask.distributed) and the
BRISQUE score (OpenCV's contrib build) are extras of the package; each is imported only
by the function that uses it, through :func:`require`, so that a missing one costs the
user a clear message at the call, not an ImportError at ``import fastosmosis``.
"""

from __future__ import annotations

import importlib

__all__ = ["EXTRAS", "MissingDependencyError", "available", "require"]

# module -> (PyPI distribution, extra of fastosmosis that installs it)
EXTRAS = {
    "SimpleITK": ("SimpleITK", "register"),
    "pymatting": ("pymatting", "alpha"),
    "distributed": ("dask[distributed]", "batch"),
    "dask": ("dask[distributed]", "batch"),
    "cv2": ("opencv-contrib-python-headless", "brisque"),
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


def install_hint(module: str) -> str:
    """The pip command that installs the extra providing ``module``."""
    _, extra = EXTRAS[module]
    return f"python3 -m pip install 'fastosmosis[{extra}]'"


def require(module: str, purpose: str):
    """Import ``module`` (a key of :data:`EXTRAS`) or raise :class:`MissingDependencyError`.

    ``purpose`` names what needs it ("registration", say) for the message.
    """
    distribution, _ = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs {distribution}, which is not installed "
            f"({exc}); install it with: {install_hint(module)}"
        ) from exc


def available(module: str) -> bool:
    """Whether ``module`` imports (for listing a method as skipped instead of failing)."""
    try:
        require(module, "this")
    except MissingDependencyError:
        return False
    return True
