"""The rows of a batch: each one checked before any work, and whether it is done already.

Part of :mod:`fastosmosis.batch`. :func:`plan_rows` turns the items of a batch (mappings
of a manifest's columns: the files, the job's steps, fuse's keywords) into :class:`Row`
objects, with relative paths resolved against a base folder and the default outputs
filled in, and every value checked as :func:`fastosmosis.fuse` checks it
(:class:`~fastosmosis.model.Model`, :meth:`~fastosmosis.model.SolverOptions.resolve`,
:mod:`fastosmosis.validation`): the first problem raises :class:`ManifestError`, which
names the row and the column. :func:`is_current` is the rule that makes a rerun cheap: a
row is skipped when its output and its report exist and the report's parameters and
input content hashes are the row's.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ._driver import STOP_BACKTRACKING
from ._write import OUTPUT_FORMATS
from .inputs import sha256
from .model import Model, SolverOptions
from .validation import check_choice, check_number, resolve_dtype

__all__ = ["FAILED_STOPS", "FILE_COLUMNS", "JOB_COLUMNS", "ManifestError", "Row",
           "failed_channels", "fuse_keywords", "is_current", "plan_rows",
           "resolve_parameters"]

FILE_COLUMNS = ("foreground", "background", "alpha", "trimap", "output")
JOB_COLUMNS = ("register", "matting")  # steps of fastosmosis.jobs.fuse_files before fuse
REQUIRED = ("foreground", "background")
REPORT_SUFFIX = ".json"  # the report of OUTPUT is OUTPUT.json, beside it
# stop reasons that make a row failed, its output written or not: a rerun tries again
FAILED_STOPS = (STOP_BACKTRACKING,)
# fuse keywords a row cannot set: the job sets them (or they are for arrays, not files)
NOT_ROW_KEYWORDS = ("callback", "return_v", "channel_axis")


class ManifestError(ValueError):
    """A row of a batch that cannot run: names the row (from 1) and the column."""

    def __init__(self, row, column, problem):
        self.row, self.column, self.problem = row, column, problem
        super().__init__(f"row {row}, column {column}: {problem}")


@dataclass(frozen=True)
class Row:
    """One pair to fuse, as a worker runs it (every path absolute).

    Attributes
    ----------
    index : int
        The row's number in the batch, from 1.
    foreground, background, output, report : str
        The files; ``report`` is ``output + ".json"``.
    alpha, trimap : str or None
        One of them: the alpha map (``"-"``: the foreground's alpha channel) or the
        trimap to compute it from.
    job : dict
        The steps before the fusion (``register``, ``matting``), as given.
    parameters : dict
        The fuse keywords the row sets (its columns over the batch's defaults).
    resolved : dict
        Those keywords as fuse records them (:func:`resolve_parameters`), for the report.
    """

    index: int
    foreground: str
    background: str
    output: str
    report: str
    alpha: str | None = None
    trimap: str | None = None
    job: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    resolved: dict = field(default_factory=dict)

    def inputs(self):
        """``{role: path}`` of the files the row reads."""
        found = {"foreground": self.foreground, "background": self.background}
        if self.trimap is not None:
            found["trimap"] = self.trimap
        elif self.alpha != "-":
            found["alpha"] = self.alpha
        return found


def fuse_keywords():
    """``{name: default}`` of :func:`fastosmosis.fuse`'s keyword-only parameters that a
    row may set (read from its signature, so a new keyword is a column by itself)."""
    from .api import fuse

    return {p.name: p.default for p in inspect.signature(fuse).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in NOT_ROW_KEYWORDS}


def resolve_parameters(parameters):
    """The ``parameters`` dict fuse records for these keywords, checked as fuse checks
    them (TypeError or ValueError naming the keyword), before any image is read.

    ``dtype`` stays None where it is not given: fuse then takes it from the images.
    """
    from .api import INITS

    p = dict(fuse_keywords(), **parameters)
    model_keys = [f.name for f in dataclasses.fields(Model)]
    model = Model(**{k: p[k] for k in model_keys})
    option_keys = list(inspect.signature(SolverOptions.resolve).parameters)
    options = SolverOptions.resolve(**{k: p[k] for k in option_keys if k in p})
    check_number("offset", p["offset"], positive=True)
    if p["alpha_blur"] is not None:
        check_number("alpha_blur", p["alpha_blur"], positive=True)
    check_choice("init", p["init"], INITS)
    if not isinstance(p["multiscale"], (bool, np.bool_)):
        raise TypeError(f"multiscale: expected True or False, got {p['multiscale']!r}")
    if p["threads"] is not None:
        check_number("threads", p["threads"], positive=True, integer=True)
    dtype = None if p["dtype"] is None else np.dtype(resolve_dtype(p["dtype"])).name
    known = set(model_keys) | set(option_keys) | {"offset", "alpha_blur", "init",
                                                   "multiscale", "threads", "dtype"}
    rest = {k: v for k, v in p.items() if k not in known}  # keywords fuse added later
    return dict(model.asdict(), **options.asdict(), init=p["init"],
                alpha_blur=p["alpha_blur"], offset=p["offset"], dtype=dtype,
                threads=p["threads"], multiscale=bool(p["multiscale"]), **rest)


def plan_rows(items, *, outdir, base=None, defaults=None):
    """The batch's rows, every one checked before any work starts.

    Parameters
    ----------
    items : iterable of mapping
        One per pair: ``foreground``, ``background``, ``alpha`` or ``trimap`` (paths),
        optionally ``output``, ``register``, ``matting`` and any keyword of
        :func:`fastosmosis.fuse` (``eta``, ``alpha_blur``, ...). None or ``""`` leaves a
        column out for that row.
    outdir : str or path
        The default output's folder: ``outdir/<foreground's name>``, the foreground's
        format and bit depth (relative: to the current folder).
    base : str or path or None
        The rows' relative paths are taken from here (a manifest's folder; None: the
        current one).
    defaults : mapping or None
        Fuse keywords (and ``register``, ``matting``) for every row; a row's own value
        wins.

    Returns
    -------
    list of Row

    Raises
    ------
    ManifestError
        The first problem found: a missing column, an unknown one, a bad value, two rows
        with the same output, an output that is an input.
    """
    keywords = fuse_keywords()
    known = set(FILE_COLUMNS) | set(JOB_COLUMNS) | set(keywords)
    base = os.path.abspath(os.fspath(base) if base is not None else os.getcwd())
    outdir = os.path.abspath(os.fspath(outdir))
    rows, outputs, inputs = [], {}, {}
    for index, item in enumerate(items, start=1):
        if not hasattr(item, "items"):
            raise TypeError(f"row {index}: expected a mapping of columns, got {item!r}")
        given = {str(k).strip(): v for k, v in item.items() if v is not None and v != ""}
        for column in given:
            if column not in known:
                raise ManifestError(index, column, "unknown column; expected "
                                    f"{', '.join(FILE_COLUMNS + JOB_COLUMNS)} or a keyword "
                                    "of fastosmosis.fuse")
        row = _plan_row(index, given, dict(defaults or {}), keywords, base, outdir)
        _check_overlap(row, outputs, inputs)
        rows.append(row)
    return rows


def _check_overlap(row, outputs, inputs):
    """No two rows write the same file, and no row writes a file that a row reads."""
    out = os.path.realpath(row.output)
    for role, path in row.inputs().items():
        key = os.path.realpath(path)
        if key == out:
            raise ManifestError(row.index, "output", f"{row.output} is the row's {role}")
        if key in outputs:
            raise ManifestError(row.index, role, f"{path} is the output of row "
                                f"{outputs[key]}")
        inputs.setdefault(key, row.index)
    if out in outputs:
        raise ManifestError(row.index, "output", f"{row.output} is also the output of row "
                            f"{outputs[out]}")
    if out in inputs:
        raise ManifestError(row.index, "output", f"{row.output} is an input of row "
                            f"{inputs[out]}")
    outputs[out] = row.index


def _plan_row(index, given, defaults, keywords, base, outdir):
    def path(column):
        value = given[column]
        if not isinstance(value, (str, os.PathLike)):
            raise ManifestError(index, column, f"expected a file path, got {value!r}")
        value = os.fspath(value).strip()
        if value == "-":
            return value
        return os.path.abspath(os.path.join(base, os.path.expanduser(value)))

    for column in REQUIRED:
        if column not in given:
            raise ManifestError(index, column, "missing (every row needs a foreground and "
                                "a background file)")
    if ("alpha" in given) == ("trimap" in given):
        raise ManifestError(index, "alpha", "give either an alpha map or a trimap"
                            if "alpha" in given else "missing: give an alpha map ('-': "
                            "the foreground's alpha channel) or a trimap")
    foreground, background = path("foreground"), path("background")
    if foreground == "-" or background == "-":
        raise ManifestError(index, "foreground" if foreground == "-" else "background",
                            "'-' is for the alpha column only")
    alpha = path("alpha") if "alpha" in given else None
    trimap = path("trimap") if "trimap" in given else None
    if "output" in given:
        output = path("output")
    else:
        output = os.path.join(outdir, os.path.basename(foreground))
    if os.path.splitext(output)[1].lower() not in OUTPUT_FORMATS:
        where = "" if "output" in given else f" (the default output {output} follows " \
            "the foreground's name; give an output column)"
        raise ManifestError(index, "output", f"unknown output format "
                            f"{os.path.splitext(output)[1] or '(no extension)'!r}; use "
                            f"{', '.join(OUTPUT_FORMATS)}{where}")
    if output == "-" or os.path.isdir(output):
        raise ManifestError(index, "output", f"{output} is not a file name")
    merged = dict(defaults, **given)
    job = {k: merged[k] for k in JOB_COLUMNS if merged.get(k) not in (None, "")}
    for column, value in job.items():
        if not isinstance(value, str):
            raise ManifestError(index, column, f"expected a name, got {value!r}")
    parameters = {k: merged[k] for k in keywords if k in merged}
    try:
        resolved = resolve_parameters(parameters)
    except (TypeError, ValueError) as exc:
        head, sep, rest = str(exc).partition(":")
        column = head if sep and head in keywords else next(iter(parameters), "parameters")
        raise ManifestError(index, column, rest.strip() if sep else str(exc)) from None
    return Row(index=index, foreground=foreground, background=background, output=output,
               report=output + REPORT_SUFFIX, alpha=alpha, trimap=trimap, job=job,
               parameters=parameters, resolved=resolved)


def is_current(row):
    """Whether ``row`` is done already: its output and its report exist, and the report
    holds the row's parameters, its steps and the SHA-256 of each input file as it is
    now, and no channel that stopped on a failure (:func:`failed_channels`). Anything
    else (a changed input or parameter, a report that cannot be read) means the row
    runs again."""
    if not (os.path.isfile(row.output) and os.path.isfile(row.report)):
        return False
    try:
        with open(row.report, encoding="utf-8") as fh:
            report = json.load(fh)
        recorded, inputs = report["parameters"], report["inputs"]
        if failed_channels(report):
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for name, value in row.resolved.items():
        if name == "dtype" and value is None:
            continue  # fuse chose it from the inputs, whose hashes are checked below
        if name not in recorded or recorded[name] != value:
            return False
    steps = {"register": (report.get("registration") or {}).get("transform"),
             "matting": (report.get("matting") or {}).get("method")}
    if row.job.get("register") != steps["register"]:
        return False
    if row.trimap is not None and row.job.get("matting", steps["matting"]) != steps["matting"]:
        return False
    wanted = row.inputs()
    files = {role for role, entry in inputs.items() if isinstance(entry, dict)
             and "sha256" in entry}
    if files != set(wanted):
        return False
    return all(inputs[role]["sha256"] == sha256(path) for role, path in wanted.items())


def failed_channels(report):
    """The channels (from 1) of a report whose solver stopped on a failure
    (``FAILED_STOPS``: its backtracking found no step that decreases the energy)."""
    return [c + 1 for c, reason in enumerate(report["stop_reasons"]) if reason in FAILED_STOPS]
