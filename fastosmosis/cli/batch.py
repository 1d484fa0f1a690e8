"""``fastosmosis batch``: every row of a manifest fused on Dask, finished rows skipped.

The manifest is a CSV file with a header: ``foreground``, ``background``, ``alpha`` (or
``trimap``), optionally ``output``, ``register``, ``matting`` and columns named like
fuse's keywords (``eta``, ``alpha_blur``, ...), which override the command's own fuse
flags for that row. A cell is read as the flag of its column reads its value (the
parser's own types and choices, :mod:`.flags`), then every row is checked as ``fuse``
checks it (:func:`fastosmosis.batch.fuse_many`), before any work starts: the first
problem is one error line naming the row and the column, exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

from .console import PROG, Console, describe, isatty
from .flags import add_fuse_flags, fuse_kwargs, integer
from .inputs import compile_first

MANIFEST_ENCODING = "utf-8-sig"  # a spreadsheet's CSV export may start with a BOM
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_FUSE_DEST = "fuse__"  # the namespace prefix of add_fuse_flags (read by fuse_kwargs)


def register(subparsers):
    """Add the ``batch`` command to the CLI's argparse ``subparsers``."""
    from ..jobs import MATTING_METHODS, TRANSFORMS

    p = subparsers.add_parser(
        "batch",
        help="fuse every row of a CSV manifest on Dask, skipping rows already done",
        description=(
            "Fuse every row of MANIFEST (CSV with a header: foreground, background, "
            "alpha or trimap, optional output, register, matting and fuse keywords such "
            "as eta or alpha_blur that override the flags below for that row; relative "
            "paths from the manifest's folder) on a local cluster of worker processes, "
            "or on the Dask cluster at --scheduler (whose workers must see the files). "
            "A row whose output and report exist and match is skipped; OUTDIR/"
            "batch-summary.csv lists every row. Exit status 0: every row done or "
            "skipped; 1: some failed; 2: a manifest error (nothing run)."
        ),
    )
    p.add_argument("manifest", metavar="MANIFEST", help="the CSV manifest")
    p.add_argument("-o", "--output", metavar="OUTDIR", required=True,
                   help="folder of the default outputs (OUTDIR/<foreground's name>) and "
                   "of batch-summary.csv; made if missing")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this Dask scheduler (tcp://HOST:PORT) instead of a local "
                   "cluster; inputs and OUTDIR must be on a filesystem its workers see")
    p.add_argument("--workers", metavar="N", type=integer,
                   help="worker processes of the local cluster (default: as many as the "
                   "cores and the memory allow for the largest row)")
    p.add_argument("--retries", metavar="K", type=integer, default=2,
                   help="runs again of a row whose worker process died (default: 2; on "
                   "--scheduler, its distributed.scheduler.allowed-failures)")
    p.add_argument("--register", choices=TRANSFORMS,
                   help="register each background onto its foreground first")
    p.add_argument("--matting", choices=MATTING_METHODS,
                   help="matting method for rows with a trimap (default: knn)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_fuse_flags(p)
    p.set_defaults(func=run, parser=p)
    return p


def run(args):
    """The ``batch`` command; returns the exit status."""
    from .._manifest import ManifestError, resolve_parameters
    from .._optional import require
    from ..batch import fuse_many, kernel_sets, plan

    distributed = require("distributed", "a batch")
    console = Console(args.quiet)
    if args.workers is not None and args.scheduler:
        raise ValueError("--workers: sets the local cluster's size; the cluster at "
                         "--scheduler has its own workers")
    if args.retries < 0:
        raise ValueError(f"--retries: must be non-negative, got {args.retries}")
    defaults = fuse_kwargs(args)
    try:
        resolve_parameters(defaults)
    except (TypeError, ValueError) as exc:
        head, sep, rest = describe(exc).partition(":")
        raise ValueError(f"--{head.replace('_', '-')}:{rest}" if sep else str(exc)) from None
    defaults.update({k: getattr(args, k) for k in ("register", "matting")
                     if getattr(args, k) is not None})
    items, lines = read_manifest(args.manifest, _cell_readers(args))
    base = os.path.dirname(os.path.abspath(args.manifest))
    try:
        plan(items, outdir=args.output, base=base, defaults=defaults,  # errors first
             local=not args.scheduler)
    except ManifestError as exc:
        raise ValueError(f"{args.manifest}: row {exc.row} (line {lines[exc.row - 1]}), "
                         f"column {exc.column}: {exc.problem}") from None

    def prepare(todo):  # the kernels, before the workers would each compile them
        for kwargs in kernel_sets(todo):
            compile_first(console, kwargs, load=False)  # the workers load their own

    client = None
    progress = BatchProgress(len(items), quiet=args.quiet)
    try:
        if args.scheduler:
            client = distributed.Client(args.scheduler, timeout="10s")
        batch = fuse_many(items, outdir=args.output, client=client, base=base,
                          defaults=defaults, workers=args.workers, retries=args.retries,
                          progress=progress, prepare=prepare, quiet=args.quiet,
                          started=lambda address, workers, rows: console.status(
                              f"{rows} rows to do on {workers} worker processes "
                              f"({'scheduler' if args.scheduler else 'local cluster'} "
                              f"{address})"))
    except KeyboardInterrupt:
        progress.close()
        newline = "\n" if isatty(sys.stderr) else ""
        print(f"{newline}{PROG}: interrupted; the cluster is stopped, finished rows are "
              "kept, no partial file is left", file=sys.stderr, flush=True)
        return 130
    except OSError as exc:  # a scheduler that cannot be reached
        if args.scheduler and not getattr(exc, "filename", None):
            raise ValueError(f"--scheduler: cannot reach {args.scheduler} ({exc})") from None
        raise
    finally:
        progress.close()
        if client is not None:
            client.close()
    for r in batch.failed:
        print(f"{PROG}: row {r.row} failed: {r.error}", file=sys.stderr, flush=True)
    console.say(f"{len(batch.rows)} rows: {batch.count('done')} done, "
                f"{batch.count('skipped')} skipped, {batch.count('failed')} failed in "
                f"{batch.seconds:.1f} s; summary: {batch.summary}")
    return 1 if batch.failed else 0


def read_manifest(path, readers):
    """The rows of the CSV file ``path`` as mappings of typed values, and the line of
    each (its last, for a quoted cell over several lines). ``readers`` maps a fuse
    keyword to the function that reads its cell."""
    try:
        with open(path, newline="", encoding=MANIFEST_ENCODING) as fh:
            reader = csv.DictReader(fh, skipinitialspace=True)
            if not reader.fieldnames:
                raise ValueError(f"{path}: empty manifest (expected a header line such as "
                                 "foreground,background,alpha)")
            header = [_column(name, readers) for name in reader.fieldnames]
            twice = sorted({name for name in header if header.count(name) > 1})
            if twice:
                raise ValueError(f"{path}: line 1 (header), column {twice[0]}: given twice")
            items, lines = [], []
            for record in reader:
                if None in record:
                    raise ValueError(f"{path}: row {len(items) + 1} (line "
                                     f"{reader.line_num}): more cells than the header has "
                                     "columns")
                row = len(items) + 1
                item = {}
                for column, text in zip(header, record.values(), strict=True):
                    text = (text or "").strip()
                    if text and column in readers:
                        try:
                            text = readers[column](text)
                        except (argparse.ArgumentTypeError, ValueError) as exc:
                            raise ValueError(f"{path}: row {row} (line {reader.line_num}), "
                                             f"column {column}: {exc}") from None
                    item[column] = text
                items.append(item)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a CSV file ({exc})") from None
    return items, lines


def _column(name, readers):
    """A header cell as the column's name: ``alpha-blur`` and ``alpha_blur`` alike."""
    name = (name or "").strip()
    under = name.replace("-", "_")
    return under if under in readers else name


def _cell_readers(args):
    """``{keyword: read(text)}`` from the fuse flags of the parser that made ``args``:
    a cell is read as the flag's value is (type, choices), a yes/no for a switch."""
    parser = args.parser
    readers = {}
    for action in parser._actions:
        if not action.dest.startswith(_FUSE_DEST):
            continue
        readers[action.dest[len(_FUSE_DEST):]] = _reader(action)
    return readers


def _reader(action):
    name = action.dest

    def read(text):
        if isinstance(action, argparse.BooleanOptionalAction):
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(f"expected true or false, got {text!r}")
            value = text.lower() in _TRUE
        else:
            value = action.type(text) if action.type else text
            if action.choices is not None and value not in action.choices:
                raise ValueError(f"unknown value {text!r}; expected one of "
                                 f"{', '.join(map(str, action.choices))}")
        # fuse_kwargs turns a flag's value into fuse's (a dtype name into its type)
        return fuse_kwargs(argparse.Namespace(**{name: value}))[name[len(_FUSE_DEST):]]

    return read


class BatchProgress:
    """``progress(result, batch)`` of :func:`fastosmosis.batch.fuse_many`: one bar over
    the rows with the done / skipped / failed counts on a terminal (tqdm), a line per
    row otherwise; nothing when ``quiet``."""

    def __init__(self, total, *, quiet=False, stream=None):
        self.total, self.quiet = total, quiet
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = not quiet and isatty(self.stream)
        self.bar = None

    def __call__(self, result, batch):
        if self.quiet:
            return
        counts = (f"{batch.count('done')} done, {batch.count('skipped')} skipped, "
                  f"{batch.count('failed')} failed")
        if not self.terminal:
            error = f": {result.error}" if result.error else ""
            print(f"{PROG}: row {result.row} {result.status}{error} ({len(batch.rows)}/"
                  f"{self.total}: {counts})", file=self.stream, flush=True)
            return
        from tqdm.auto import tqdm

        if self.bar is None:
            self.bar = tqdm(total=self.total, desc="rows", unit="row", file=self.stream,
                            dynamic_ncols=True, leave=True)
        self.bar.set_postfix_str(counts, refresh=False)
        self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
