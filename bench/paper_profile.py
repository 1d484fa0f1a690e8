"""Where the time of target 2's run goes: the paper scheme's kernels, call by call.

    python3 -m bench.paper_profile [--side 256] [--iterations 20] [--threads N]

The run of ``bench/bench_peer.py`` (paper scheme, docs/model.md 7 settings, a side x side
crop of the puppets' red channel, float64), after one untimed run that compiles and
warms up. Every kernel the solver calls (``fastosmosis._driver.K``) is timed through a
wrapper; the table gives calls, milliseconds and the share of the run for each, and for
the primal-dual prox also the primal-dual iterations and microseconds per iteration.
The wrapper costs about a microsecond per call, a fraction of a percent here.
"""

import argparse
import time
from collections import Counter, defaultdict

import numba
import numpy as np

import fastosmosis
from fastosmosis import _driver
from fastosmosis import kernels as K

from ._data import SETTINGS, puppets_channel_crop


class _Timed:
    """``kernels`` with every callable timed into ``seconds`` and ``calls``."""

    def __init__(self, module):
        self._module = module
        self.seconds = defaultdict(float)
        self.calls = Counter()
        self.pd_iterations = 0

    def __getattr__(self, name):
        obj = getattr(self._module, name)
        if not callable(obj):
            return obj

        return _TimedCall(self, name, obj)


class _TimedCall:
    """One kernel, timed into its ``_Timed``; its other attributes (a Kernel's name,
    signatures, compile) are the kernel's own, so that precompile sees the kernel."""

    def __init__(self, owner, name, obj):
        self._owner, self._name, self._obj = owner, name, obj

    def __getattr__(self, attr):
        return getattr(self._obj, attr)

    def __call__(self, *args):
        t = time.perf_counter()
        out = self._obj(*args)
        self._owner.seconds[self._name] += time.perf_counter() - t
        self._owner.calls[self._name] += 1
        if self._name == "huber_prox":
            self._owner.pd_iterations += out[0]
        return out


def profile(side=256, iterations=20):
    """(total seconds, _Timed) of one run of the paper scheme on the crop."""
    f, b, a = puppets_channel_crop(side)

    def run():
        return fastosmosis.fuse(f, b, a, **SETTINGS, scheme="paper", max_iter=iterations,
                                tol=1e-300, dtype=np.float64)

    run()  # compile, warm up
    timed = _Timed(K)
    _driver.K = timed
    try:
        t = time.perf_counter()
        run()
        total = time.perf_counter() - t
    finally:
        _driver.K = K
    return total, timed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    total, timed = profile(args.side, args.iterations)
    print(f"paper scheme {args.side}x{args.side}, {args.iterations} iPiano iterations, "
          f"{numba.get_num_threads()} threads: {total * 1e3:.1f} ms")
    print("| kernel | calls | ms | share of run |")
    print("|---|---|---|---|")
    for name, sec in sorted(timed.seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {timed.calls[name]} | {sec * 1e3:.1f} | {sec / total:.1%} |")
    rest = total - sum(timed.seconds.values())
    print(f"| (Python driver, fuse's set-up) | | {rest * 1e3:.1f} | {rest / total:.1%} |")
    if timed.pd_iterations:
        prox = timed.seconds["huber_prox"]
        print(f"primal-dual: {timed.pd_iterations} iterations, "
              f"{prox / timed.pd_iterations * 1e6:.1f} us per iteration "
              f"({prox / timed.pd_iterations / args.side**2 * 1e9:.2f} ns per pixel)")


if __name__ == "__main__":
    main()
