"""The flags of ``fuse`` and ``compare``, made from :func:`fastosmosis.fuse` itself.

Every keyword-only parameter of ``fuse`` becomes a flag (``max_iter`` -> ``--max-iter``),
read from its signature (:func:`fuse_options`): the default types the value, the choices
come from the library's constants (``INITS``, ``SCHEMES``, ...) or else from the
numpydoc ``{"a", "b"}`` type, and the help from the tables below or else from the
docstring's first sentence, so a keyword added to ``fuse`` gets a flag without touching
the CLI. :func:`fuse_kwargs` reads them back; flags left out are not passed, and
``fuse``'s own defaults apply.

Also the parser pieces the commands share: :class:`Parser` (one-line errors),
:func:`integer` and :func:`number` (value types) and :func:`add_input_arguments` (the
three input files).
"""

from __future__ import annotations

import argparse
import inspect
import math
import re

import numpy as np

# Keywords whose default is None, by the type of the values they take.
_NONE_DEFAULT_TYPES = {"alpha_blur": "float", "threads": "int", "warm_start": "bool",
                       "tol": "float", "gtol": "float", "pd_tol_rel": "float"}
# return_v follows --save-v; image files always hold their channels last
_NOT_FLAGS = {"callback", "return_v", "channel_axis"}
# Short help of the keywords known today; a new keyword gets its docstring's first sentence.
_HELP = {
    "eta": "weight of the Huber-TV regulariser of v (0: none)",
    "mu": "weight of the fidelity of v to w = f^alpha b^(1-alpha)",
    "gamma": "weight of the fidelity of u to the foreground where alpha > 0",
    "epsilon": "Huber parameter of the regulariser",
    "osm": "weight of the osmosis term",
    "init": "initial u (v starts at w)",
    "alpha_blur": "replace alpha by gaussian_filter(alpha == 1, SIGMA) (the paper's "
    "faces example: 5); default: alpha as given",
    "scheme": "exact: exact gradients and proxes of the discrete energy; paper: the "
    "authors' reference code step for step",
    "solver": "bcd: to the minimiser (exact u-block by multigrid, v by descent steps); "
    "ipiano: the paper's block iPiano; default: bcd, ipiano for the paper scheme",
    "gtol": "stop a channel when the norm of the energy's gradient has fallen to GTOL of "
    "its start; default: 1e-7 for bcd, none for ipiano",
    "tol": "stop a channel when the relative energy change falls below TOL; default: "
    "1e-6 for ipiano (from iteration 5 on), none for bcd",
    "max_iter": "iterations at most per channel (outer iterations for bcd)",
    "pd_tol": "tolerance of the primal-dual loop of the Huber-TV prox",
    "pd_max_iter": "primal-dual iterations at most per prox",
    "warm_start": "start each primal-dual loop from the previous dual; default: the "
    "scheme's (on for exact)",
    "offset": "added to both images for positivity, removed from the result",
    "dtype": "working precision; default: float32 when both images hold float32 samples, "
             "float64 otherwise",
    "threads": "Numba threads for the solver; default: Numba's",
}
_METAVARS = {"alpha_blur": "SIGMA", "max_iter": "N", "pd_max_iter": "N", "threads": "N"}
_FUSE_DEST = "fuse__"  # namespace prefix of the generated flags


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2, no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def integer(text):
    """An int, also written as ``1e4``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}")
    return int(value)


def number(text):
    """A finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}")
    return value


def add_input_arguments(parser):
    """The three positional inputs of ``fuse`` and ``compare``."""
    parser.add_argument("foreground", metavar="FOREGROUND", help="foreground image file")
    parser.add_argument("background", metavar="BACKGROUND", help="background image file")
    parser.add_argument(
        "alpha",
        metavar="ALPHA",
        help="alpha map file (integer samples divided by the type's maximum), or '-' to "
        "use the alpha channel of an RGBA or grey+alpha FOREGROUND",
    )


def library_choices():
    """``{keyword: values}`` of fuse's string options, from the library's own constants.

    Imported here, not at the top: the library imports Numba.
    """
    from ..api import DTYPES, INITS
    from ..model import REGULARIZERS, SCHEMES, SOLVERS, V_STEPS

    return {
        "init": INITS,
        "scheme": SCHEMES,
        "solver": SOLVERS,
        "regularizer": REGULARIZERS,
        "v_step": V_STEPS,
        "dtype": tuple(np.dtype(t).name for t in DTYPES),
    }


def fuse_options(fuse=None):
    """The keyword-only parameters of ``fuse`` (default: :func:`fastosmosis.fuse`) that
    become flags."""
    fuse = fuse or _library_fuse()
    return [
        p
        for p in inspect.signature(fuse).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in _NOT_FLAGS
    ]


def add_fuse_flags(parser, fuse=None):
    """Add a flag to ``parser`` for each of :func:`fuse_options`, in a group of its own;
    a flag the parser has already (``--quiet``, say) is left to it."""
    fuse = fuse or _library_fuse()
    group = parser.add_argument_group(
        "solver options", "keywords of fastosmosis.fuse; left out, fuse's default applies"
    )
    docs = _param_docs(fuse.__doc__)
    known = library_choices()
    taken = set(parser._option_string_actions)
    for param in fuse_options(fuse):
        flag = "--" + param.name.replace("_", "-")
        if flag in taken:
            continue
        type_text, text = docs.get(param.name, ("", ""))
        text = _HELP.get(param.name, text)
        choices = known.get(param.name) or _doc_choices(type_text)
        if choices:
            choices = _default_first(choices, param.default)
        kind = _kind_of(param, choices)
        if param.default not in (inspect.Parameter.empty, None):
            text = f"{text} (default: {_default_text(param.default)})".strip()
        kwargs = {"dest": _FUSE_DEST + param.name, "default": argparse.SUPPRESS, "help": text}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind == "choice":
            kwargs["choices"] = choices
        else:
            kwargs["type"] = {"int": integer, "float": number, "str": str}.get(kind, _value)
            kwargs["metavar"] = _METAVARS.get(param.name, param.name.upper())
        group.add_argument(flag, **kwargs)


def fuse_kwargs(args):
    """The keywords of fuse that the flags added by :func:`add_fuse_flags` give."""
    kwargs = {
        name[len(_FUSE_DEST) :]: value
        for name, value in vars(args).items()
        if name.startswith(_FUSE_DEST)
    }
    if "dtype" in kwargs:
        kwargs["dtype"] = np.dtype(kwargs["dtype"]).type
    return kwargs


def _library_fuse():
    import fastosmosis

    return fastosmosis.fuse


def _value(text):
    """Value of an option whose type is unknown: int, float, none or text."""
    if text.lower() == "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _param_docs(doc):
    """``{name: (type text, first sentence)}`` from a numpydoc ``Parameters`` section.

    Grouped entries (``tol, max_iter : float, int``) give each name the same text.
    """
    docs = {}
    section = re.search(
        r"Parameters\n\s*-+\n(.*?)(\n\s*\n\s*[A-Z][a-z ]+\n\s*-+\n|\Z)", doc or "", re.S
    )
    if not section:
        return docs
    entries = []
    for line in inspect.cleandoc("\n" + section.group(1)).splitlines():
        head = re.match(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$", line)
        if head:
            entries.append((re.split(r"\s*,\s*", head.group(1)), head.group(2), []))
        elif entries and line.strip():
            entries[-1][2].append(line.strip())
    for names, type_text, lines in entries:
        first = re.split(r"(?<=\.)\s", " ".join(lines), maxsplit=1)[0]
        for name in names:
            docs[name] = (type_text, first.replace("%", "%%"))
    return docs


def _doc_choices(type_text):
    """The values of a numpydoc ``{"a", "b"}`` type, or None."""
    found = re.fullmatch(r"\{(.*)\}( or None)?", type_text.strip())
    if not found:
        return None
    values = [v.strip().strip("'\"") for v in found.group(1).split(",")]
    return tuple(v for v in values if v) or None


def _default_first(choices, default):
    """``choices`` with fuse's default (a value or a type such as float64) first, the
    others in their order: the help then lists the default first."""
    name = getattr(default, "__name__", default)
    return tuple(sorted(choices, key=lambda value: value != name))


def _kind_of(param, choices):
    if choices:
        return "choice"
    default = param.default
    if isinstance(default, bool):
        return "bool"
    if default is None:
        return _NONE_DEFAULT_TYPES.get(param.name, "any")
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    return "any"


def _default_text(default):
    if isinstance(default, type):
        return default.__name__
    return repr(default) if isinstance(default, str) else str(default)
