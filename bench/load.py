"""Speed on a machine that is not idle: a busy neighbour, and two fusions side by side.

    python3 -m bench.load [--rounds 5] [--layers tbb omp] [--pairs 3]

Target 1 of issue 14 (busy neighbour). For each threading layer, a child process (the
layer is chosen once per process) times ``fuse`` at its defaults on the faces example
(alpha blur 5, eta 0.1), on a 256 x 256 crop of the puppets (eta 0.5) and on the
puppets' green channel at twice the size (1126 x 1600, grey: one channel whose passes
are long enough to share), in three modes:

- ``default``: what ``fuse`` does now (channels side by side where they are small),
- ``threads=1``: one thread,
- ``before``: every channel after the other on all threads, each pass shared by all of
  them: what ``fuse`` did before issue 14 (``_threads.PIXELS_PER_THREAD = 1``, no
  channels side by side, all threads whatever the load),

each quiet and then with one busy process beside it (a pure-Python spin loop that this
benchmark starts, and stops after each round or after ``BUSY_LIMIT_S`` at the latest).
Rounds alternate quiet and busy, each starting with a different mode (a neighbour
just started gets more than its share for a while: the first second is not timed);
each figure is the best of ``rounds``. It prints each
time and the ratios the targets are about: busy / quiet of the default, the default's
busy time over threads=1's busy time, and the default's quiet time over "before" with
the OpenMP layer (what the package ran on before: "no slower than today").

Target 3 (batch use), with ``--pairs N``: two processes that each fuse the full puppets
example once with the defaults, started together, against the same two one after the
other; the span from the first fuse's start to the last one's end (imports excluded),
best of N.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY_LIMIT_S = 120  # a neighbour never outlives this, whatever happens to the benchmark
SPIN = "import sys, time\nt = time.time() + float(sys.argv[1])\nwhile time.time() < t: pass\n"
MODES = ("default", "threads=1", "before")
EXAMPLES = ("faces", "puppets 256 x 256", "puppets green x 2")


def start_neighbour(limit=BUSY_LIMIT_S):
    """A busy process (one core), stopped by the caller or after ``limit`` seconds."""
    return subprocess.Popen([sys.executable, "-c", SPIN, str(limit)])


def stop(proc):
    proc.kill()
    proc.wait()


def _problems():
    import numpy as np
    from scipy.ndimage import zoom

    from bench.puppets import load

    faces, puppets = load("4"), load("1")
    crop = tuple(x[150:406, 250:506] for x in puppets)
    # a grey image large enough for each pass to be shared (1126 x 1600: 1.8 Mpx)
    big = tuple(np.clip(zoom(x[..., 1] / 255.0, 2, order=1), 0, 1) for x in puppets)
    return {"faces": (faces, dict(eta=0.1, alpha_blur=5.0)),
            "puppets 256 x 256": (crop, dict(eta=0.5)),
            "puppets green x 2": (big, dict(eta=0.5))}


def child(rounds):
    """Runs in a child process: the layer is this process's; prints one JSON line."""
    import fastosmosis
    from fastosmosis import _threads

    problems = _problems()
    default = _threads.PIXELS_PER_THREAD, _threads.MIN_SIDE_BY_SIDE, _threads.share

    def run(example, mode):
        (f, b, a), kw = problems[example]
        _threads.PIXELS_PER_THREAD, _threads.MIN_SIDE_BY_SIDE, _threads.share = \
            (1, float("inf"), lambda t: t) if mode == "before" else default
        extra = {"threads": 1} if mode == "threads=1" else {}
        t = time.perf_counter()
        r = fastosmosis.fuse(f, b, a, **kw, **extra)
        return time.perf_counter() - t, r.parameters["workers"], r.u

    best = {}
    workers = {}
    results = {}
    for example in EXAMPLES:  # compile and warm up
        for mode in MODES:
            run(example, mode)
    for k in range(rounds):
        order = MODES[k % len(MODES):] + MODES[:k % len(MODES)]
        for load in ("quiet", "busy"):
            neighbour = start_neighbour() if load == "busy" else None
            try:
                if neighbour is not None:
                    time.sleep(1.0)
                for example in EXAMPLES:
                    for mode in order:
                        s, w, u = run(example, mode)
                        key = f"{example}|{mode}|{load}"
                        best[key] = min(best.get(key, float("inf")), s)
                        workers[f"{example}|{mode}"] = w
                        results.setdefault(example, []).append(u)
            finally:
                if neighbour is not None:
                    stop(neighbour)
    import numpy as np

    same = all(all(np.array_equal(u, us[0]) for u in us) for us in results.values())
    print("RESULT " + json.dumps({"layer": fastosmosis.threading_layer(), "best": best,
                                  "workers": workers, "bitwise_same": same}))


def measure_layer(layer, rounds):
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    out = subprocess.run([sys.executable, "-m", "bench.load", "--child", str(rounds)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[7:])


PAIR_CHILD = r"""
import json, time
import fastosmosis
from bench.puppets import load
f, b, a = load("1")
t0 = time.time()
fastosmosis.fuse(f, b, a, eta=0.5)
print("RESULT " + json.dumps([t0, time.time()]))
"""


def _start_pair_child():
    return subprocess.Popen([sys.executable, "-c", PAIR_CHILD], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def _span(procs):
    spans = []
    for p in procs:
        out, _ = p.communicate()
        spans.append(json.loads([ln for ln in out.splitlines()
                                 if ln.startswith("RESULT ")][-1][7:]))
    return max(e for _, e in spans) - min(s for s, _ in spans)


def measure_pairs(n):
    """(side by side, one after the other): best spans of two puppets fusions."""
    _span([_start_pair_child()])  # compiles if needed
    side, seq = [], []
    for _ in range(n):
        seq.append(_span([_start_pair_child()]) + _span([_start_pair_child()]))
        side.append(_span([_start_pair_child(), _start_pair_child()]))
    return min(side), min(seq)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--layers", nargs="+", default=["omp", "tbb"],
                    help="tbb needs the tbb package (pip install tbb)")
    ap.add_argument("--pairs", type=int, default=3, help="rounds of target 3 (0: skip)")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return
    runs = {}
    for layer in args.layers:
        try:
            runs[layer] = measure_layer(layer, args.rounds)
        except subprocess.CalledProcessError as exc:
            print(f"layer {layer}: not available here ({exc.stderr.strip().splitlines()[-1]})")
    before = runs.get("omp", next(iter(runs.values())))["best"]
    for layer, r in runs.items():
        b = r["best"]
        print(f"layer {layer} (asked) -> {r['layer']}; results bitwise the same across "
              f"modes, loads and rounds: {r['bitwise_same']}")
        for example in EXAMPLES:
            cells = []
            for mode in MODES:
                q, z = b[f"{example}|{mode}|quiet"], b[f"{example}|{mode}|busy"]
                w = r["workers"][f"{example}|{mode}"]
                cells.append(f"{mode} ({w} worker{'s' * (w > 1)}) quiet {q:.3f} s "
                             f"busy {z:.3f} s")
            d_q, d_b = b[f"{example}|default|quiet"], b[f"{example}|default|busy"]
            print(f"  {example}: " + "; ".join(cells))
            print(f"    default busy / quiet {d_b / d_q:.2f} (target <= 1.3); default busy "
                  f"/ threads=1 busy {d_b / b[f'{example}|threads=1|busy']:.2f} (<= 1); "
                  f"default quiet / before (omp) quiet "
                  f"{d_q / before[f'{example}|before|quiet']:.2f} (<= 1)")
    if args.pairs:
        side, seq = measure_pairs(args.pairs)
        print(f"two puppets fusions side by side {side:.2f} s, one after the other "
              f"{seq:.2f} s: ratio {side / seq:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
