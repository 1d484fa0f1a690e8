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

This module holds :func:`build_parser`, :func:`main` and the console script's
:func:`entry_point`; each command is a module of its own, named in ``COMMANDS``
(:mod:`.fuse`, :mod:`.demo`, :mod:`.compare`, ...: ``register(subparsers)`` and
``run(args)``), built on shared modules that import no command: :mod:`.console` (notes,
progress, error lines), :mod:`.flags` (fuse's flags and the parser helpers),
:mod:`.inputs` (compiling first, the library's reading with the console's notes); the
work of ``fuse`` itself, its JSON report among it, is the library's
(:mod:`fastosmosis.jobs`, :mod:`fastosmosis.report`). The library, and of the commands
only the one a command line names, are imported only where needed, so that the first
line a user waits for comes quickly.
"""

from __future__ import annotations

import gc
import os
import sys
import time

from .. import _lazy
from .._optional import MissingDependencyError

# the shared helpers, imported at their first use (PEP 562): they import NumPy, and a
# local batch starts its workers' server before that (main)
_EXPORTS = {
    "PROG": ".console",
    "Progress": ".console",
    "Parser": ".flags",
    "add_fuse_flags": ".flags",
    "fuse_kwargs": ".flags",
    "fuse_options": ".flags",
    "library_choices": ".flags",
}
__getattr__, __dir__ = _lazy.lazy_exports(__name__, _EXPORTS)

__all__ = [
    "COMMANDS",
    "PROG",
    "Parser",
    "Progress",
    "add_fuse_flags",
    "build_parser",
    "entry_point",
    "fuse_kwargs",
    "fuse_options",
    "library_choices",
    "main",
]

# the commands, in the order of the help: each is the module of its name in this package
COMMANDS = ("fuse", "register", "alpha", "batch", "demo", "compare")


def commands(name=None):
    """The command modules, in the order of the help; only the command ``name``'s when it
    is one (imported here: they import the library, and a command line names one)."""
    import importlib

    names = [name] if name in COMMANDS else COMMANDS
    return tuple(importlib.import_module(f".{n}", __name__) for n in names)


def build_parser(command=None):
    """The argument parser of the ``fastosmosis`` command: every command's, or only that
    of ``command`` when it names one (the others' modules are then not imported)."""
    import fastosmosis

    from .console import PROG
    from .flags import Parser

    parser = Parser(
        prog=PROG,
        description="Variational osmosis image fusion (Parisotto et al., IEEE TIP 2020).",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {fastosmosis.__version__}"
    )
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module in commands(command):
        module.register(sub)
    return parser


def entry_point():
    """The ``fastosmosis`` command (and ``python -m fastosmosis``): :func:`main` on the
    process's arguments; returns its exit status. The objects left at the end are frozen
    (:func:`gc.freeze`), so that the interpreter's exit does not run its last garbage
    collections over everything the library imported (0.1-0.2 s with distributed,
    SciPy and Numba); every file is closed and flushed by then."""
    status = main()
    gc.freeze()
    return status


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, 2 on errors, 130 on Ctrl-C)."""
    started = time.perf_counter() - _process_age()
    argv = sys.argv[1:] if argv is None else list(argv)
    if _local_batch(argv):
        from .._server import start_server

        start_server()  # the workers' imports, beside this process's own
    from .console import PROG, describe, isatty

    try:
        parser = build_parser(argv[0] if argv else None)
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            commands = ", ".join(parser._subparsers._group_actions[0].choices)
            parser.error(f"choose a command: {commands}")
        args.argv = argv  # the arguments as given (sys.argv[1:] by default): the reports hold them
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
