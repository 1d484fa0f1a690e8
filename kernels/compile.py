"""Compile a set of kernels for one float type, in parallel processes, once per install.

Numba compiles a kernel in the process that calls it, under one global lock, and then
keeps it in its on-disk cache; a kernel that is there loads in milliseconds. A solver
needs 15-20 kernels, which take 20-60 s to compile one after the other. ``precompile``
splits the missing ones between this process and ``processes - 1`` child processes
(``main``), each compiling its share into
the cache, and then loads theirs from it. If a child fails (no writable cache, say), this
process compiles what is left itself: the result is the same, only slower.

Numba's cache checks its own version, the source file's time stamp and the CPU (name and
features) itself, and recompiles a kernel whose entry belongs to another; an index that
cannot be read at all (a truncated or foreign file) is flushed and the kernel compiled
again (``Kernel.compile``).
"""

import inspect
import os
import subprocess
import sys

import numpy as np

from ._types import Kernel

CHILD = f"from {__name__} import main; main()"
CHILD_BASE = 1.0  # a kernel's estimated compile cost is this plus its source in kilobytes


def kernel_named(name):
    """The kernel ``name`` of the kernel package."""
    from importlib import import_module
    k = getattr(import_module(__package__), name, None)
    if not isinstance(k, Kernel):
        raise ValueError(f"no kernel named {name!r}")
    return k


def missing(kernels, dtype):
    """The kernels of ``kernels`` (and what they call) that are neither compiled in
    this process for ``dtype`` nor in the on-disk cache, in a deterministic order."""
    seen, out = set(), []

    def visit(k):
        if k.name in seen:
            return
        seen.add(k.name)
        for other in k.needs:
            visit(other)
        if not k.is_compiled(dtype) and not k.is_cached(dtype):
            out.append(k)

    for k in kernels:
        visit(k)
    return out


def _cost(k):
    return CHILD_BASE + len(inspect.getsource(k.__wrapped__)) / 1000.0


def split(kernels, parts):
    """``kernels`` in ``parts`` groups of about equal estimated cost (largest first);
    a kernel that calls others goes with them."""
    groups = [[] for _ in range(parts)]
    loads = [0.0] * parts
    units = []
    taken = set()
    for k in sorted(kernels, key=lambda k: -sum(_cost(x) for x in (k, *k.needs))):
        if k.name in taken:
            continue
        unit = [x for x in (*k.needs, k) if x in kernels and x.name not in taken]
        taken.update(x.name for x in unit)
        units.append(unit)
    for unit in units:
        i = loads.index(min(loads))
        groups[i].extend(unit)
        loads[i] += sum(_cost(x) for x in unit)
    return [g for g in groups if g]


def precompile(kernels, dtype, *, processes=None, announce=None, load=True):
    """Compile (or load from the cache) every kernel of ``kernels`` for ``dtype``.

    ``processes``: how many processes share the compilation (default: the CPUs this
    process may use, at most 4); ``announce(names)`` is called first with the names of
    the kernels that must be compiled, when there are any; ``load=False`` fills the
    on-disk cache for other processes (a batch's workers) without loading what is there
    already into this one. Returns the names of the kernels compiled.
    """
    dtype = np.dtype(dtype)
    todo = missing(kernels, dtype)
    names = [k.name for k in todo]
    if not todo:
        for k in kernels if load else ():
            k.compile(dtype)
        return names
    if announce is not None:
        announce(names)
    if processes is None:
        processes = min(4, len(os.sched_getaffinity(0)))
    groups = split(todo, max(1, min(processes, len(todo))))
    children = []
    for group in groups[1:]:
        cmd = [sys.executable, "-c", CHILD, dtype.name, *(k.name for k in group)]
        try:
            children.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL))
        except OSError:
            break
    try:
        for k in groups[0]:
            k.compile(dtype)
    finally:
        for child in children:
            child.wait()
    for k in kernels if load else ():  # the children's share loads from the cache
        k.compile(dtype)
    return names


def main(argv=None):
    """A child process's work: compile the kernels named after the float type (``argv``
    or the command line: ``DTYPE NAME...``) into the on-disk cache."""
    argv = sys.argv[1:] if argv is None else argv
    dtype, names = np.dtype(argv[0]), argv[1:]
    for name in names:
        kernel_named(name).compile(dtype)
