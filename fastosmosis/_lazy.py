"""A module's public names imported at their first use (PEP 562)."""

from __future__ import annotations

import importlib
import sys

__all__ = ["lazy_exports"]


def lazy_exports(module_name, exports):
    """``(__getattr__, __dir__)`` for the module ``module_name``, whose names ``exports``
    maps to the modules that define them (relative to the package ``module_name``): a
    name is imported from its module when first used, and then found directly."""
    module = sys.modules[module_name]

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], module_name), name)
        setattr(module, name, value)
        return value

    def __dir__():
        return sorted(set(vars(module)) | set(exports))

    return __getattr__, __dir__
