"""Threads: the plan of a fusion, the load it adapts to, and results that do not depend
on the threads or the threading layer, bit for bit."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest

import fastosmosis
from fastosmosis import _threads, fuse, memory_needed
from fastosmosis.kernels._types import prefer_layer
from tests.conftest import positive_field

ROOT = Path(__file__).resolve().parents[1]
SPIN = "import time\nt = time.time() + 20\nwhile time.time() < t: pass\n"


def fits_all(workers):
    return True


@pytest.fixture
def layer(monkeypatch):
    def use(name):
        monkeypatch.setattr(_threads, "threading_layer", lambda: name)
    return use


def test_small_images_run_on_one_thread(layer):
    layer("omp")
    assert _threads.plan(256 * 256, 1, 2, fits_all) == (1, 1)
    assert _threads.plan(256 * 256, 3, 2, fits_all) == (1, 1)  # too small to run apart


def test_a_large_grey_image_shares_its_passes(layer):
    layer("omp")
    assert _threads.plan(1126 * 1600, 1, 2, fits_all) == (1, 2)
    assert _threads.plan(1126 * 1600, 1, 8, fits_all) == (1, 7)  # 250 000 px a thread
    assert _threads.plan(1126 * 1600, 1, 1, fits_all) == (1, 1)


def test_colour_channels_run_side_by_side_as_memory_allows(layer):
    layer("omp")
    assert _threads.plan(600 * 460, 3, 2, fits_all) == (3, 1)
    assert _threads.plan(600 * 460, 3, 8, fits_all) == (3, 2)
    assert _threads.plan(600 * 460, 3, 1, fits_all) == (1, 1)  # one thread: one channel
    assert _threads.plan(600 * 460, 3, 2, lambda k: k <= 2) == (2, 1)
    assert _threads.plan(4000 * 3000, 3, 2, lambda k: k <= 1) == (1, 2)


def test_no_channels_side_by_side_on_the_workqueue_layer(layer):
    layer("workqueue")  # it cannot take kernels from two threads at once
    assert _threads.plan(600 * 460, 3, 2, fits_all) == (1, 1)


def test_fuse_asks_memory_for_the_channels_side_by_side(monkeypatch, rng):
    shape = (320, 320, 3)
    assert memory_needed(shape, np.float64, workers=3) - memory_needed(shape, np.float64) \
        == 2 * 12 * 320 * 320 * 8
    f, b = positive_field(rng, shape, low=0, high=1), positive_field(rng, shape, low=0,
                                                                      high=1)
    alpha = (rng.uniform(0, 1, shape[:2]) > 0.5).astype(float)
    monkeypatch.setattr(_threads, "threading_layer", lambda: "omp")
    monkeypatch.setattr(_threads, "MIN_SIDE_BY_SIDE", 0)
    one = memory_needed(shape, np.float64, workers=1)
    monkeypatch.setattr(fastosmosis._memory, "available_memory", lambda: one + 1)
    r = fuse(f, b, alpha, max_iter=2, threads=2)
    assert r.parameters["workers"] == 1  # two side by side would not fit


def test_share_leaves_the_cpus_that_others_keep_busy(monkeypatch):
    cpus = len(os.sched_getaffinity(0))
    monkeypatch.setattr(_threads, "running_elsewhere", lambda: 0)
    assert _threads.share(2) == min(2, max(1, cpus))
    monkeypatch.setattr(_threads, "running_elsewhere", lambda: cpus)
    assert _threads.share(2) == 1
    assert _threads.share(1) == 1


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads /proc/stat")
def test_running_elsewhere_sees_a_busy_process():
    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.5)
        assert _threads.running_elsewhere() >= 1
    finally:
        proc.kill()
        proc.wait()


def side_by_side_problem(monkeypatch, rng):
    """A small colour problem whose channels fuse solves side by side (OpenMP's rules)."""
    monkeypatch.setattr(_threads, "MIN_SIDE_BY_SIDE", 0)
    monkeypatch.setattr(_threads, "threading_layer", lambda: "omp")
    shape = (30, 24, 3)
    f, b = positive_field(rng, shape, low=0, high=1), positive_field(rng, shape, low=0,
                                                                      high=1)
    alpha = (rng.uniform(0, 1, shape[:2]) > 0.5).astype(float)
    return f, b, alpha


def test_callback_calls_never_overlap(monkeypatch, rng):
    f, b, alpha = side_by_side_problem(monkeypatch, rng)
    inside, overlaps, seen = [0], [0], set()

    def cb(channel, iteration, energy):
        inside[0] += 1
        overlaps[0] += inside[0] > 1
        seen.add(threading.current_thread().name)
        time.sleep(0.001)
        inside[0] -= 1

    r = fuse(f, b, alpha, max_iter=6, threads=2, callback=cb)
    assert r.parameters["workers"] == 3
    assert overlaps[0] == 0 and len(seen) >= 2


def test_an_error_in_one_channel_stops_the_others(monkeypatch, rng):
    f, b, alpha = side_by_side_problem(monkeypatch, rng)
    calls = []

    def cb(channel, iteration, energy):
        calls.append((channel, iteration))
        if channel == 1 and iteration == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        fuse(f, b, alpha, max_iter=10000, gtol=1e-30, threads=2, callback=cb)
    others = [n for c, n in calls if c != 1]
    assert max(others) < 10000  # they stopped at their next iteration
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored


def test_prefer_layer_keeps_the_users_choice(monkeypatch):
    monkeypatch.setenv("NUMBA_THREADING_LAYER", "workqueue")
    before = list(numba.config.THREADING_LAYER_PRIORITY)
    assert prefer_layer() == before
    monkeypatch.delenv("NUMBA_THREADING_LAYER")
    assert prefer_layer()[0] == "omp"


IMPORT = r"""
import json, sys
import fastosmosis
light = {m: m in sys.modules for m in ("numba", "scipy", "fastosmosis.api")}
names = {n: callable(getattr(fastosmosis, n)) or isinstance(getattr(fastosmosis, n), type)
         for n in fastosmosis.__all__ if n != "__version__"}
import fastosmosis.kernels, numba
print(json.dumps({"light": light, "names": names, "dir": sorted(dir(fastosmosis)),
                  "layers": list(numba.config.THREADING_LAYER_PRIORITY)}))
"""


def test_import_is_light_and_every_name_resolves():
    # `import fastosmosis` waits for neither Numba nor SciPy (a batch starts its workers
    # meanwhile); the names come at first use, and the kernels still prefer OpenMP
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING")}
    out = subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True,
                         env=env, check=True, timeout=300).stdout
    r = json.loads(out)
    assert r["light"] == {"numba": False, "scipy": False, "fastosmosis.api": False}
    assert all(r["names"].values()) and len(r["names"]) == len(fastosmosis.__all__) - 1
    assert set(fastosmosis.__all__) <= set(r["dir"])
    assert r["layers"][0] == "omp"
    with pytest.raises(AttributeError, match="no attribute 'fusee'"):
        fastosmosis.fusee  # noqa: B018


# --------------------------------------------------- whatever the layer and threads

CHILD = r"""
import hashlib, json, sys
import numpy as np
{block}
import fastosmosis
from fastosmosis import _threads
_threads.MIN_SIDE_BY_SIDE = 0       # channels side by side, even on this small image
_threads.PIXELS_PER_THREAD = 100    # and the grey image's passes shared
rng = np.random.default_rng(5)
f, b = rng.uniform(0.05, 1, (2, 48, 37, 3))
alpha = (rng.uniform(0, 1, (48, 37)) > 0.5).astype(float)
out = {{"layer": fastosmosis.threading_layer()}}
for threads in (1, 2):
    for name, args in (("colour", (f, b, alpha)), ("grey", (f[..., 0], b[..., 0], alpha))):
        for solver in ("bcd", "ipiano"):
            r = fastosmosis.fuse(*args, eta=0.5, threads=threads, solver=solver, max_iter=40)
            out[f"{{name}} {{solver}} {{threads}}"] = [
                hashlib.sha256(r.u.tobytes() + r.v.tobytes()).hexdigest(),
                r.parameters["workers"]]
print(json.dumps(out))
"""
# makes the OpenMP layer unimportable, as on a machine without it
NO_OMP = """
import importlib.abc
class _NoOmp(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "numba.np.ufunc.omppool":
            raise ImportError("no OpenMP here")
sys.meta_path.insert(0, _NoOmp())
"""


def _child(block="", **env):
    out = subprocess.run([sys.executable, "-c", CHILD.format(block=block)], cwd=ROOT,
                         capture_output=True, text=True, env=dict(os.environ, **env))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _hashes(r):
    return {k: v[0] for k, v in r.items() if k != "layer"}


def test_results_are_the_same_bit_for_bit_whatever_the_layer_and_threads():
    runs = [_child(), _child(NUMBA_THREADING_LAYER="workqueue")]
    assert [r["layer"] for r in runs] == ["omp", "workqueue"]
    for r in runs:
        for name in ("colour", "grey"):
            for solver in ("bcd", "ipiano"):
                assert r[f"{name} {solver} 1"][0] == r[f"{name} {solver} 2"][0]
    assert _hashes(runs[0]) == _hashes(runs[1])
    assert runs[0]["colour bcd 2"][1] == 3  # side by side on OpenMP
    assert runs[1]["colour bcd 2"][1] == 1  # not on the workqueue


def test_without_the_preferred_layer_it_falls_back_and_agrees():
    preferred = _child()
    fallback = _child(NO_OMP)
    assert preferred["layer"] == "omp" and fallback["layer"] in ("tbb", "workqueue")
    assert _hashes(fallback) == _hashes(preferred)
