"""The first run after a fresh install: ``fastosmosis demo`` with nothing compiled yet.

    python3 -m bench.cold_start [--runs 1]

Target 2 of issue 14. The benchmark copies this working tree (the files git tracks) into
a temporary folder, makes a virtual environment there that sees this interpreter's
packages (numpy, numba, ...) and installs the copy into it with ``pip install -e``, so
that neither its bytecode nor Numba's cache (``kernels/__pycache__`` beside the source,
Numba's default) exists yet. It then times, from the moment the process is started:

- the first line saying that the kernels are compiling (target: within 1 s),
- the whole first ``python -m fastosmosis demo`` (target: <= 20 s, stretch 10 s),
- a second demo, which loads the kernels from the cache,

and, as the reference measured in the same run, compiling the same kernels in one
process (``fastosmosis.precompile(processes=1)`` with an empty cache): the ratio shows
what compiling in parallel processes gains. ``--runs N`` repeats it all from a fresh copy.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERIAL = "import fastosmosis; fastosmosis.precompile(processes=1)"


def fresh_install(dest):
    """A copy of the tracked files under ``dest / 'src'``, installed editable into a new
    virtual environment ``dest / 'venv'``; returns its python."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    src = dest / "src"
    for name in files:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(dest / "venv")],
                   check=True)
    python = dest / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-e", str(src)],
                   check=True)
    return python, src


def timed_demo(python, out, env):
    """(seconds to the 'compiling' line or None, seconds in all, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(python), "-m", "fastosmosis", "demo", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
    told = None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if told is None and "compiling" in line:
            told = time.perf_counter() - start
    proc.wait()
    total = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError("demo failed:\n" + "".join(lines))
    return told, total, "".join(lines)


def one_run():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        python, src = fresh_install(tmp)
        told, cold, _ = timed_demo(python, tmp / "out1", env)
        _, warm, _ = timed_demo(python, tmp / "out2", env)
        start = time.perf_counter()
        subprocess.run([str(python), "-c", SERIAL], check=True,
                       env=dict(env, NUMBA_CACHE_DIR=str(tmp / "serial-cache")))
        serial = time.perf_counter() - start
    return told, cold, warm, serial


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args(argv)
    for _ in range(args.runs):
        told, cold, warm, serial = one_run()
        said = "never" if told is None else f"after {told:.2f} s"
        print(f"first demo {cold:.1f} s (target <= 20, stretch 10), 'compiling' said {said} "
              f"(<= 1); second demo {warm:.2f} s; the same kernels compiled in one process "
              f"{serial:.1f} s: first demo / that {cold / serial:.2f}")


if __name__ == "__main__":
    main()
