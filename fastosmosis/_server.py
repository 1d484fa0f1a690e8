"""Imported by the fork server of the local cluster's workers (``_cluster.PRELOAD``):
Numba's own start, done once there for every worker."""


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
