"""Imported by the fork server of the local cluster's workers (``_cluster.PRELOAD``):
Numba's own start, done once there for every worker (:func:`._warmup.start_numba`)."""

from ._warmup import start_numba

start_numba()
