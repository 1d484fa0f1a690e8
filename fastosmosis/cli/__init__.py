"""The ``fastosmosis`` command: ``fuse`` image files, run the ``demo``, ``compare`` methods.

Every keyword-only parameter of :func:`fastosmosis.fuse` becomes a ``fuse`` flag
(``max_iter`` -> ``--max-iter``), read from its signature, so a keyword added to
``fuse`` gets a flag without touching the CLI. Flags left out are not passed, and
``fuse``'s own defaults apply.

Errors a user can fix (missing or unreadable file, sizes that differ, unknown option,
bad value, an output that cannot hold the input's bit depth) print one line on stderr
and exit with status 2; Ctrl-C exits with 130. In both cases no output file is
written or changed: outputs are written to temporary files and renamed into place
only when all of them are complete.

This module holds :func:`build_parser` and :func:`main`; each command is a module of
its own (:mod:`.fuse`, :mod:`.demo`, :mod:`.compare`: ``register(subparsers)`` and
``run(args)``), built on shared modules that import no command: :mod:`.console` (notes,
progress, error lines), :mod:`.flags` (fuse's flags and the parser helpers),
:mod:`.inputs` (compiling first, the library's reading with the console's notes); the
work of ``fuse`` itself, its JSON report among it, is the library's
(:mod:`fastosmosis.jobs`, :mod:`fastosmosis.report`). The library is imported only where
it is needed, so that the first line a user waits for comes quickly.
"""

from __future__ import annotations

import os
import sys
import time

from .._optional import MissingDependencyError
from .console import PROG, Progress, describe, isatty
from .flags import Parser, add_fuse_flags, fuse_kwargs, fuse_options, library_choices

__all__ = [
    "PROG",
    "Parser",
    "Progress",
    "add_fuse_flags",
    "build_parser",
    "fuse_kwargs",
    "fuse_options",
    "library_choices",
    "main",
]

def commands():
    """The command modules, in the order of the help (imported here: they import the
    library)."""
    from . import alpha, batch, compare, demo, fuse, register

    return (fuse, register, alpha, batch, demo, compare)


def build_parser():
    """The argument parser of the ``fastosmosis`` command."""
    import fastosmosis

    parser = Parser(
        prog=PROG,
        description="Variational osmosis image fusion (Parisotto et al., IEEE TIP 2020).",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {fastosmosis.__version__}"
    )
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for command in commands():
        command.register(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, 2 on errors, 130 on Ctrl-C)."""
    started = time.perf_counter() - _process_age()
    if _local_batch(sys.argv[1:] if argv is None else argv):
        from .._cluster import start_server

        start_server()  # the workers' imports, beside this process's own
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            commands = ", ".join(parser._subparsers._group_actions[0].choices)
            parser.error(f"choose a command: {commands}")
        args.argv = None if argv is None else list(argv)
        args.started = started
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse's exits, also from a command's own parser
        return _exit_status(exc)
    except KeyboardInterrupt:
        newline = "\n" if isatty(sys.stderr) else ""  # after the ^C the terminal echoed
        print(f"{newline}{PROG}: interrupted; no output written", file=sys.stderr, flush=True)
        return 130
    except (TypeError, ValueError, OSError, MissingDependencyError) as exc:
        # ImageFileError is a ValueError; MissingDependencyError names the extra to install
        print(f"{PROG}: error: {describe(exc)}", file=sys.stderr, flush=True)
        return 2


def _local_batch(argv):
    """Whether ``argv`` looks like a ``batch`` on a local cluster (no ``--scheduler``,
    nor an abbreviation of it, nor help): a guess made before the library is imported,
    only to start the workers' server early; the command itself decides."""
    argv = [str(a) for a in argv]
    return argv[:1] == ["batch"] and not any(
        a.startswith("--sch") or a in ("-h", "--help") for a in argv)


def _process_age():
    """Seconds since this process started (Linux; 0 elsewhere): imports and Numba count."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()  # fields 3, 4, ... of stat(5)
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def _exit_status(exc):
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 2
