"""Imported last by the fork server of the local cluster's workers (``_server.PRELOAD``):
Numba's own start, done once there for every worker, and the server's objects frozen.

Freezing (:func:`gc.freeze`, after the imports and before any fork, as its documentation
has it for a server that forks) moves everything the server has imported into the
garbage collector's permanent generation. A worker's full collections then leave those
objects alone (and their pages shared with the server), and so does the server's exit,
whose last collections over the imports of distributed, SciPy and Numba took 0.2 s:
the command's output pipe closed that much after the command itself had ended.
"""

import gc


def start_numba():
    """Numba's own start (its typing and lowering registries, LLVM's target), which its
    first compilation or cache load in a process sets up, 0.2-0.4 s: done here by
    compiling a function of no parallel loop, which leaves OpenMP unstarted, so that the
    server the workers are forked from can do it once for all of them."""
    import numba

    @numba.njit(cache=False)
    def one_more(x):
        return x + 1.0

    return one_more(1.0)


start_numba()
gc.freeze()
