"""Compiled layer of fastosmosis: every @njit function, nothing else."""
