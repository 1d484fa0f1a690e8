"""Wait until the machine is quiet, then run a command (Linux: reads /proc/stat).

    python3 -m bench.quiet [--idle 0.9] [--window 3] [--timeout 1800] -- COMMAND ...

On a shared 2-core machine another process on one core halves what a 2-thread kernel
gets and turns a copy of a few milliseconds into a wait for the scheduler (~8 ms here),
so timings taken then are noise. This polls the idle fraction of all CPUs over
``window`` seconds until it reaches ``idle`` (or ``timeout`` passes, then it runs anyway
and says so), prints it, and runs the command; the exit status is the command's.
"""

import argparse
import os
import subprocess
import sys
import time


def cpu_times():
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    vals = [int(x) for x in fields]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    return idle, sum(vals)


def idle_fraction(window):
    i0, t0 = cpu_times()
    time.sleep(window)
    i1, t1 = cpu_times()
    return (i1 - i0) / max(1, t1 - t0)


def wait_quiet(idle=0.9, window=3.0, timeout=1800.0, log=print):
    """Block until the idle fraction over ``window`` s is >= ``idle``; return it."""
    start = time.monotonic()
    while True:
        frac = idle_fraction(window)
        if frac >= idle:
            log(f"bench.quiet: {frac:.0%} idle over {window:g} s, starting")
            return frac
        if time.monotonic() - start > timeout:
            log(f"bench.quiet: still only {frac:.0%} idle after {timeout:g} s, "
                "starting anyway (timings are suspect)")
            return frac


def _jiffies():
    """(busy jiffies of all CPUs, of this process and its waited-for children)."""
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:]]
    with open("/proc/self/stat") as fh:
        own = fh.read().rsplit(")", 1)[1].split()
    busy = sum(vals) - vals[3] - (vals[4] if len(vals) > 4 else 0)
    return busy, sum(int(x) for x in own[11:15])  # utime stime cutime cstime


class OthersCpu:
    """``with OthersCpu() as m: ...``; then ``m.cores``: the CPU, in cores, that other
    processes took meanwhile (0: the machine was ours; 1: a whole core of the two went
    elsewhere, and a 2-thread timing is then noise). None where /proc is missing."""

    cores = None

    def __enter__(self):
        try:
            self._start = _jiffies()
        except OSError:
            self._start = None
        self._t = time.monotonic()
        return self

    def __exit__(self, *exc):
        if self._start is None:
            return
        end = _jiffies()
        seconds = max(time.monotonic() - self._t, 1e-9)
        hz = os.sysconf("SC_CLK_TCK")
        others = ((end[0] - self._start[0]) - (end[1] - self._start[1])) / hz
        self.cores = round(max(0.0, others) / seconds, 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=float, default=0.9)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    wait_quiet(args.idle, args.window, args.timeout,
               log=lambda m: print(m, file=sys.stderr, flush=True))
    if not cmd:
        return 0
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
