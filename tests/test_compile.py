"""Kernels compile one float type at a time, on first use, in parallel, once per install.

The tests that need a fresh cache run a child process with its own NUMBA_CACHE_DIR and
compile only small kernels (a few seconds each).
"""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastosmosis
import fastosmosis.kernels as K
from fastosmosis import _solvers
from fastosmosis.kernels import compile as C
from fastosmosis.kernels._types import Kernel
from fastosmosis.model import Model, SolverOptions

ROOT = Path(__file__).resolve().parents[1]


def run_child(code, cache, **env):
    """Run ``code`` in a fresh interpreter with its own Numba cache; its last stdout line
    parsed as JSON."""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, NUMBA_CACHE_DIR=str(cache), **env))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


LAZY = r"""
import json
import numpy as np
import fastosmosis.kernels as K
x = np.ones((5, 4), np.float32)
p = np.ones_like(x)
K.cg_direction(p, x, 0.5)           # a Python float beside float32 images
first = [str(s) for s in K.cg_direction.signatures]
K.cg_direction(p.astype(np.float64), x.astype(np.float64), 0.5)
print(json.dumps({"first": first, "then": [str(s) for s in K.cg_direction.signatures],
                  "p": p.tolist(), "multiply": len(K.multiply.signatures)}))
"""


def test_a_kernel_compiles_only_the_float_type_it_is_called_with(tmp_path):
    r = run_child(LAZY, tmp_path)
    assert r["first"] == ["(Array(float32, 2, 'C', False, aligned=True), "
                          "Array(float32, 2, 'C', False, aligned=True), float32)"]
    assert len(r["then"]) == 2 and "float64" in r["then"][1]
    assert np.all(np.array(r["p"]) == 1.5)
    assert r["multiply"] == 0  # never called: never compiled


PRECOMPILE = r"""
import json, sys
import numpy as np
from fastosmosis.kernels import compile as C
import fastosmosis.kernels as K
told = []
names = C.precompile([K.dot, K.multiply, K.cg_direction], np.float64, processes=2,
                     announce=told.append)
print(json.dumps({"names": names, "told": told,
                  "compiled": [k.is_compiled(np.float64) for k in (K.dot, K.multiply,
                                                                   K.cg_direction)],
                  "cached": [k.is_cached(np.float64) for k in (K.dot, K.multiply,
                                                               K.cg_direction)]}))
"""


def test_precompile_shares_the_work_and_then_loads_from_the_cache(tmp_path):
    first = run_child(PRECOMPILE, tmp_path)
    assert sorted(first["names"]) == ["cg_direction", "dot", "multiply"]
    assert first["told"] == [first["names"]]
    assert first["compiled"] == [True] * 3 and first["cached"] == [True] * 3
    again = run_child(PRECOMPILE, tmp_path)
    assert again["names"] == [] and again["told"] == []  # nothing to say the second time
    assert again["compiled"] == [True] * 3


def test_precompile_without_load_leaves_cached_kernels_in_the_cache(tmp_path):
    # what a batch does before its workers start: fill the cache, load nothing here
    no_load = PRECOMPILE.replace("announce=told.append)", "announce=told.append, load=False)")
    first = run_child(no_load, tmp_path)
    assert sorted(first["names"]) == ["cg_direction", "dot", "multiply"]
    assert first["cached"] == [True] * 3
    again = run_child(no_load, tmp_path)
    assert again["names"] == [] and again["told"] == []
    assert again["compiled"] == [False] * 3 and again["cached"] == [True] * 3


DOT = r"""
import json
import numpy as np
import fastosmosis.kernels as K
x = np.arange(12.0).reshape(3, 4)
print(json.dumps({"dot": K.dot(x, x, np.empty((3, 8))),
                  "cached": K.dot.is_cached(np.float64)}))
"""


def _index(cache):
    found = [p for p in Path(cache).rglob("multigrid.dot-*.nbi")]
    assert found, "no index written for kernels.dot"
    return found[0]


@pytest.mark.parametrize("damage", ["another numba version", "unreadable"])
def test_a_foreign_or_broken_cache_is_rebuilt(tmp_path, damage):
    expected = float(np.sum(np.arange(12.0) ** 2))
    assert run_child(DOT, tmp_path)["dot"] == expected
    index = _index(tmp_path)
    if damage == "another numba version":
        with open(index, "rb") as fh:
            pickle.load(fh)
            rest = fh.read()
        index.write_bytes(pickle.dumps("0.0.1") + rest)
    else:
        index.write_bytes(b"\x80\x04 not an index")
    r = run_child(DOT, tmp_path)
    assert r["dot"] == expected and r["cached"]


def test_split_keeps_a_kernel_with_what_it_calls():
    groups = C.split([K.grad, K.pd_pair, K.pd_iteration, K.huber_prox, K.dot, K.sweep,
                      K.gradient_energy], 2)
    assert len(groups) == 2
    names = [[k.name for k in g] for g in groups]
    home = next(g for g in names if "huber_prox" in g)
    assert {"grad", "pd_pair", "pd_iteration"} <= set(home)
    assert home.index("huber_prox") > max(home.index(n) for n in ("pd_pair", "pd_iteration"))
    assert sorted(sum(names, [])) == sorted(["grad", "pd_pair", "pd_iteration", "huber_prox",
                                             "dot", "sweep", "gradient_energy"])


def test_kernel_named_refuses_what_is_not_a_kernel():
    assert C.kernel_named("sweep") is K.sweep
    with pytest.raises(ValueError, match="no kernel named 'HUBER'"):
        C.kernel_named("HUBER")


OPTIONS = [
    dict(),
    dict(v_step="prox"),
    dict(eta=0.0),
    dict(solver="ipiano"),
    dict(solver="ipiano", v_step="explicit"),
    dict(solver="ipiano", regularizer="tikhonov", multiscale=True),
    dict(scheme="paper"),
    dict(scheme="paper", v_step="explicit"),
    dict(scheme="paper", regularizer="tikhonov"),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(map(str, o.values()))
                         or "defaults")
def test_fuse_calls_only_the_kernels_it_precompiles(monkeypatch, options):
    called = set()
    call = Kernel.__call__

    def record(self, *args):
        called.add(self.name)
        return call(self, *args)

    monkeypatch.setattr(Kernel, "__call__", record)
    rng = np.random.default_rng(3)
    f, b, a = rng.uniform(0.1, 1.0, (3, 12, 10))
    fastosmosis.fuse(f, b, a, max_iter=3, **options)
    r = fastosmosis.fuse(f, b, a, max_iter=3, **options)
    model = Model(eta=r.parameters["eta"], regularizer=r.parameters["regularizer"])
    solver_options = SolverOptions(**{k: r.parameters[k] for k in (
        "scheme", "solver", "v_step", "gtol", "tol", "max_iter", "pd_tol", "pd_max_iter",
        "warm_start", "pd_tol_rel")})
    listed = set()
    for k in _solvers.kernels_for(model, solver_options):
        listed.add(k.name)
        listed.update(x.name for x in k.needs)
    assert called and called <= listed


def test_precompile_checks_its_options():
    with pytest.raises(ValueError, match="solver"):
        fastosmosis.precompile(solver="newton")
    with pytest.raises(ValueError, match="processes"):
        fastosmosis.precompile(processes=0)
    assert fastosmosis.precompile() == []  # compiled (or cached) by the tests before
