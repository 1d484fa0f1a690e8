"""``fastosmosis batch`` and :mod:`fastosmosis.batch`: end to end on tiny images.

The cluster tests run the command in a subprocess: on the local cluster it starts, and
on a real ``dask scheduler`` with two ``dask worker`` processes that this module starts
on 127.0.0.1 (random free ports, through a scheduler file) and stops. The fault case
kills a worker by its process id while it works on a row. Every subprocess and wait has
a timeout, so that nothing hangs.
"""

import contextlib
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fastosmosis.io import read_image, write_image

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds any one command may take here (a loaded CI machine)
# a row that takes a few seconds on one thread: a window to kill its worker in
SLOW = {"solver": "ipiano", "max_iter": "1500", "tol": "1e-300"}


def _pair(folder, name, size=(12, 14), seed=0):
    """A tiny RGB foreground and background and a grey alpha map, 8-bit PNG."""
    rng = np.random.default_rng(seed)
    h, w = size
    alpha = np.zeros(size)
    alpha[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1
    files = {}
    for role, image in (("foreground", rng.random(size + (3,))),
                        ("background", rng.random(size + (3,))), ("alpha", alpha)):
        files[role] = f"{name}_{role[:2]}.png"
        write_image(folder / files[role], image, like=np.uint8)
    return files


def _manifest(path, rows):
    columns = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _command(*args):
    return [sys.executable, "-m", "fastosmosis", "batch", *map(str, args)]


def _batch(*args, cwd):
    return subprocess.run(_command(*args), cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _summary(outdir):
    with open(Path(outdir) / "batch-summary.csv", newline="") as fh:
        return {int(r["row"]): r for r in csv.DictReader(fh)}


def _single(folder, row, tmp_path):
    """The row fused alone in this process (what ``fastosmosis fuse`` runs): its pixels."""
    from fastosmosis.jobs import fuse_files

    params = {k: v for k, v in row.items() if k not in ("foreground", "background", "alpha")}
    converted = {"solver": str, "max_iter": int, "tol": float, "eta": float}
    out = tmp_path / f"single_{row['foreground']}"
    fuse_files(folder / row["foreground"], folder / row["background"], out,
               alpha=folder / row["alpha"], **{k: converted[k](v) for k, v in params.items()})
    return read_image(out)[0]


def _assert_same(output, expected):
    got = read_image(output)[0]
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


def _wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _executing(client, prefix):
    """{worker address: keys it is executing now} whose key starts with ``prefix``."""
    running = client.run(lambda dask_worker: [str(ts.key) for ts in
                                              dask_worker.state.executing])
    return {w: keys for w, keys in running.items() if any(k.startswith(prefix) for k in keys)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A ``dask scheduler`` and two ``dask worker`` processes (one thread and one Numba
    thread each) on 127.0.0.1, and a client of them; all stopped at the end."""
    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = folder / "scheduler.json"
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    common = ["--scheduler-file", str(scheduler_file), "--no-dashboard"]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--idle-timeout", "600s", *common],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)]
    client = None
    try:
        _wait_for(scheduler_file.exists, "the scheduler file", 60)
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--host", "127.0.0.1",
                 "--nthreads", "1", "--death-timeout", "60", *common],
                cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        client = distributed.Client(scheduler_file=str(scheduler_file), timeout="60s")
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        if client is not None:
            client.close()
        for proc in procs:  # each in a session of its own: a worker's nanny and child
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(timeout=20)


def test_local_cluster_then_skip(tmp_path, capsys):
    folder = tmp_path / "scans"  # the manifest's folder: its relative paths start there
    folder.mkdir()
    rows = [dict(_pair(folder, f"p{k}", seed=k)) for k in range(3)]
    rows[1]["eta"] = "0.3"  # a column overrides the command's flag
    manifest = _manifest(folder / "m.csv", rows)
    run = _batch("scans/m.csv", "-o", "out", "--eta", "0.05", "--workers", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "rows to do on 2 worker processes (local cluster tcp://127.0.0.1:" in run.stderr
    summary = _summary(tmp_path / "out")  # -o is taken from the current folder
    assert [summary[k]["status"] for k in (1, 2, 3)] == ["done"] * 3
    for k, row in enumerate(rows, start=1):
        output = tmp_path / "out" / row["foreground"]  # the default output
        assert summary[k]["output"] == str(output)
        assert (tmp_path / "out" / (row["foreground"] + ".json")).exists()
        _assert_same(output, _single(folder, dict({"eta": "0.05"}, **row), tmp_path))
    from fastosmosis.cli import main

    assert main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--eta", "0.05"]) == 0
    again = capsys.readouterr()
    assert "0 done, 3 skipped, 0 failed" in again.out
    assert "worker processes" not in again.err  # nothing to do: no cluster started
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--eta", "0.05",
                 "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_local_cluster_workers_have_one_numba_thread(monkeypatch):
    import numba

    from fastosmosis.batch import local_cluster

    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")  # an inherited value must not win
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    environ = dict(os.environ)
    kernels = {"scheme": "paper", "solver": "ipiano", "v_step": "prox", "eta": 0.1,
               "regularizer": "huber-tv"}
    with local_cluster(1, retries=0, quiet=True, kernels=[kernels]) as client:
        threads = client.run(lambda: (os.environ["NUMBA_NUM_THREADS"],
                                      numba.config.NUMBA_NUM_THREADS))
        # the worker loaded the batch's kernels as it started, none called yet
        loaded = client.submit(_kernels_loaded, kernels, key="loaded").result(TIMEOUT)
        # Dask's trim threshold, which makes every array a new mapping, is left out
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        profiler = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        tick = client.run(lambda: dask.config.get("distributed.admin.tick.interval"))
        # retries: the deaths of its worker a task survives; 0: the first is its end
        assert client.run_on_scheduler(lambda dask_scheduler:
                                       dask_scheduler.allowed_failures) == 0
        died = client.submit(os._exit, 1, key="dies")
        assert isinstance(died.exception(timeout=TIMEOUT), distributed.KilledWorker)
    assert list(threads.values()) == [("1", 1)]
    assert list(trim.values()) == [None]
    assert list(profiler.values()) == [False]  # no stack sampling for a dashboard
    assert list(tick.values()) == ["500ms"]  # the event loop's health checked less often
    assert loaded
    assert os.environ == environ  # the nanny's variables (OMP_NUM_THREADS, ...) put back


def _kernels_loaded(kernels):
    """On a worker: whether every kernel of ``kernels`` is compiled for float64 once its
    warm-up thread has ended (no task there calls a kernel)."""
    import threading

    from fastosmosis._solvers import kernels_for
    from fastosmosis.model import Model, SolverOptions

    for t in threading.enumerate():
        if t.name == "fastosmosis-kernels":
            t.join(TIMEOUT)
    model = Model(eta=kernels["eta"], regularizer=kernels["regularizer"])
    options = SolverOptions(scheme=kernels["scheme"], solver=kernels["solver"],
                            v_step=kernels["v_step"])
    found = kernels_for(model, options)
    return bool(found) and all(k.is_compiled(np.float64) for k in found)


def test_ctrl_c_stops_the_cluster_and_leaves_no_partial_file(tmp_path):
    psutil = pytest.importorskip("psutil")
    row = dict(_pair(tmp_path, "slow", size=(64, 64)), **dict(SLOW, max_iter="100000"))
    manifest = _manifest(tmp_path / "m.csv", [row])
    proc = subprocess.Popen(_command(manifest, "-o", "out"), cwd=tmp_path, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # Ctrl-C reaches the whole group
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        address = _wait_for(lambda: _scheduler_address(lines, proc), "the cluster's address")
        with distributed.Client(address, timeout="30s") as client:
            _wait_for(lambda: _executing(client, "fastosmosis-row-1-"), "row 1 to run")
        children = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
    reader.join(timeout=20)
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "interrupted; the cluster is stopped" in err
    _, alive = psutil.wait_procs(children, timeout=20)  # each gone, the cluster's too
    assert children and not alive, alive
    assert os.listdir(tmp_path / "out") == []  # no output, no report, no .part file


def _scheduler_address(lines, proc):
    """The local cluster's address from the status line among ``lines`` (of ``proc``)."""
    for line in list(lines):
        if "worker processes (local cluster " in line:
            return line.rsplit(" ", 1)[1].rstrip(")\n")
    if proc.poll() is not None:
        raise AssertionError(f"batch ended before its cluster started: {''.join(lines)}")
    return None


def test_existing_cluster_with_faults(cluster, tmp_path, capsys):
    """A corrupt input and a worker killed while it works on a row, on the cluster."""
    psutil = pytest.importorskip("psutil")
    rows = [dict(_pair(tmp_path, f"p{k}", seed=k)) for k in range(4)]
    rows[1].update(SLOW)  # row 2: its worker is killed while it works on it
    (tmp_path / rows[3]["background"]).write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    manifest = _manifest(tmp_path / "m.csv", rows)
    proc = subprocess.Popen(_command(manifest, "-o", "out", "--scheduler",
                                     cluster.scheduler.address, "--retries", "1"),
                            cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        worker, _ = _wait_for(lambda: _executing(cluster, "fastosmosis-row-2-"),
                              "row 2 to run").popitem()
        pid = cluster.run(os.getpid, workers=[worker])[worker]
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
    assert proc.returncode == 1, err
    assert f"4 rows to do on 2 worker processes (scheduler {cluster.scheduler.address})" in err
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    summary = _summary(tmp_path / "out")
    assert [summary[k]["status"] for k in (1, 2, 3, 4)] == ["done", "done", "done", "failed"]
    assert rows[3]["background"] in summary[4]["error"] and "corrupt" in summary[4]["error"]
    assert f"row 4 failed: {summary[4]['error']}" in err
    for row in rows[:3]:
        _assert_same(tmp_path / "out" / row["foreground"], _single(tmp_path, row, tmp_path))
    assert not (tmp_path / "out" / rows[3]["foreground"]).exists()
    from fastosmosis.cli import main

    assert main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--scheduler",
                 cluster.scheduler.address]) == 1
    assert "0 done, 3 skipped, 1 failed" in capsys.readouterr().out


MANIFEST_ERRORS = [
    ("foreground,alpha\na.png,al.png\n", "row 1 (line 2), column background: missing"),
    ("foreground,background,alpha,etaa\na.png,b.png,al.png,1\n",
     "row 1 (line 2), column etaa: unknown column"),
    ("foreground,background,alpha,eta\na.png,b.png,al.png,0.1\na.png,b.png,al.png,-1\n",
     "row 2 (line 3), column eta: must be non-negative, got -1.0"),
    ("foreground,background,alpha,eta\na.png,b.png,al.png,abc\n",
     "row 1 (line 2), column eta: invalid number: 'abc'"),
    ("foreground,background,alpha,solver\na.png,b.png,al.png,fast\n",
     "row 1 (line 2), column solver: unknown value 'fast'"),
    ("foreground,background,alpha,scheme,gtol\na.png,b.png,al.png,paper,1e-7\n",
     "row 1 (line 2), column gtol: the paper scheme does not compute"),
    ("foreground,background,alpha,warm_start\na.png,b.png,al.png,maybe\n",
     "row 1 (line 2), column warm_start: expected true or false"),
    ("foreground,background\na.png,b.png\n", "row 1 (line 2), column alpha: missing"),
    ("foreground,background,alpha,threads\na.png,b.png,al.png,2\n",
     "row 1 (line 2), column threads: the local cluster's workers have one Numba thread"),
    ("foreground,background,alpha,register\na.png,b.png,al.png,\nc.png,d.png,al.png,rigid\n",
     "row 2 (line 3), column register: unknown value 'rigid'"),
    ("foreground,background,alpha\na.png,b.png,al.png\nsub/a.png,c.png,al.png\n",
     "row 2 (line 3), column output: "),
    ("foreground,background,alpha,output\na.bmp,b.png,al.png,\n",
     "row 1 (line 2), column output: unknown output format '.bmp'"),
    ("foreground,background,alpha,output\na.png,b.png,al.png,b.png\n",
     "row 1 (line 2), column output: "),
]


@pytest.mark.parametrize("text, message", MANIFEST_ERRORS)
def test_manifest_errors(tmp_path, capsys, text, message):
    from fastosmosis.cli import main

    (tmp_path / "m.csv").write_text(text)
    assert main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastosmosis: error: ")
    assert f"{tmp_path / 'm.csv'}: {message}" in err
    assert not (tmp_path / "out").exists()  # checked before any work


def test_flag_errors_name_the_flag(tmp_path, capsys):
    from fastosmosis.cli import main

    (tmp_path / "m.csv").write_text("foreground,background,alpha\na.png,b.png,al.png\n")
    assert main(["batch", str(tmp_path / "m.csv"), "-o", "out", "--mu", "0"]) == 2
    assert "fastosmosis: error: --mu: must be positive" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "m.csv"), "-o", "out", "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--workers: sets the local cluster's size" in capsys.readouterr().err


def test_missing_dask_names_the_extra(tmp_path, capsys, monkeypatch):
    from fastosmosis.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # import raises ImportError
    (tmp_path / "m.csv").write_text("foreground,background,alpha\na.png,b.png,al.png\n")
    assert main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "a batch needs dask[distributed], which is not installed" in err
    assert "pip install 'fastosmosis[batch]'" in err


def test_skip_and_redo_rules(tmp_path):
    from fastosmosis._manifest import is_current, plan_rows
    from fastosmosis.batch import run_row

    files = _pair(tmp_path, "p")

    def row(**defaults):
        return plan_rows([files], outdir=tmp_path / "out", base=tmp_path,
                         defaults=defaults)[0]

    assert row().output == str(tmp_path / "out" / files["foreground"])
    os.makedirs(tmp_path / "out")
    assert not is_current(row(eta=0.2))  # no output yet
    assert run_row(row(eta=0.2)).status == "done"
    assert is_current(row(eta=0.2))
    assert is_current(row(eta=0.2, dtype=np.float64))  # what fuse chose, given
    assert not is_current(row(eta=0.3))  # a parameter changed
    assert not is_current(row(eta=0.2, dtype=np.float32))
    assert not is_current(row(eta=0.2, max_iter=5))
    background = tmp_path / files["background"]
    saved = background.read_bytes()
    write_image(background, np.full((12, 14, 3), 0.5), like=np.uint8)
    assert not is_current(row(eta=0.2))  # an input's content changed
    background.write_bytes(saved)
    assert is_current(row(eta=0.2))
    report = Path(row().report)
    report.write_text(report.read_text()[:-20])
    assert not is_current(row(eta=0.2))  # a report that cannot be read
    failed = run_row(plan_rows([dict(files, alpha="missing.png")], outdir=tmp_path / "out",
                               base=tmp_path)[0])
    assert failed.status == "failed" and "missing.png: no such file" in failed.error


def test_progress_counts_and_quiet():
    import io

    from fastosmosis.batch import BatchResult, RowResult
    from fastosmosis.cli.batch import BatchProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    batch = BatchResult(counts={"done": 1, "failed": 1})
    batch.rows = [RowResult(1, "done", "a.png", "f", "b"),
                  RowResult(2, "failed", "c.png", "f", "b", error="c.png: no such file")]
    for stream, quiet in ((io.StringIO(), False), (Terminal(), False), (Terminal(), True)):
        progress = BatchProgress(3, quiet=quiet, stream=stream)
        progress(batch.rows[1], batch)
        progress.close()
        text = stream.getvalue()
        if quiet:
            assert text == ""
        elif isinstance(stream, Terminal):  # the bar: rows so far of all, the counts
            assert "1/3" in text and "1 done, 0 skipped, 1 failed" in text
        else:
            assert text == ("fastosmosis: row 2 failed: c.png: no such file (2/3: 1 done, "
                            "0 skipped, 1 failed)\n")


def test_a_solver_stopped_by_backtracking_fails_its_row(tmp_path, monkeypatch):
    import json

    import fastosmosis.jobs
    from fastosmosis._manifest import is_current, plan_rows
    from fastosmosis.batch import run_row

    row = plan_rows([_pair(tmp_path, "p")], outdir=tmp_path / "out", base=tmp_path)[0]
    os.makedirs(tmp_path / "out")
    real = fastosmosis.jobs.fuse_files

    def stopped(*args, **kwargs):  # the real job, with channel 2's solver stopped
        job = real(*args, **kwargs)
        job.report["stop_reasons"][1] = "backtracking failed"
        with open(kwargs["report"], "w") as fh:
            json.dump(job.report, fh)
        return job

    monkeypatch.setattr(fastosmosis.jobs, "fuse_files", stopped)
    result = run_row(row)
    assert result.status == "failed"
    assert result.error.startswith("channel 2: the solver stopped: backtracking failed")
    assert os.path.exists(row.output) and not is_current(row)  # a rerun tries it again


def test_local_workers_follow_cores_rows_and_memory(tmp_path):
    import fastosmosis
    from fastosmosis._manifest import plan_rows
    from fastosmosis.batch import WORKER_BYTES, local_workers

    rows = plan_rows([_pair(tmp_path, f"p{k}", size=(40, 50)) for k in range(3)],
                     outdir=tmp_path / "out", base=tmp_path)
    one = fastosmosis.memory_needed((40, 50, 3), np.float64, "bcd") + WORKER_BYTES
    assert local_workers(rows, cores=8, memory=100 * one) == 3  # one per row at most
    assert local_workers(rows[:2], cores=8, memory=100 * one) == 2
    assert local_workers(rows, cores=2, memory=100 * one) == 2  # one per core
    assert local_workers(rows, cores=8, memory=2.5 * one) == 2  # what the memory holds
    assert local_workers(rows, cores=8, memory=one // 2) == 1  # at least one


FORKED = r"""
import os
import numpy as np
import fastosmosis._preload  # what the workers' fork server imports: Numba started there
pid = os.fork()
if pid == 0:  # a worker: GNU OpenMP refuses to run in a fork of a process that started it
    from fastosmosis import fuse
    r = fuse(np.full((8, 8), 0.5), np.full((8, 8), 0.4), np.full((8, 8), 0.5), max_iter=3)
    os._exit(0 if np.isfinite(r.u).all() else 3)
import gc
# the server's objects frozen: left alone by the workers' collections and the exit's
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), gc.get_freeze_count() > 10_000)
"""


def test_numba_started_in_the_server_leaves_its_forks_free_to_run_kernels():
    out = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True,
                         timeout=TIMEOUT, cwd=ROOT)
    assert out.stdout.split() == ["0", "True"], out.stderr
