"""What the ``fastosmosis`` command shows while it works, shared by every command.

:class:`Console` keeps notes until the inputs are checked (so that an error that follows
stays one line), prints status lines on stderr and results on stdout, and is silent with
``--quiet``. :class:`Progress` is the ``callback`` of :func:`fastosmosis.fuse` that shows
the iterations and then one summary line per channel. :func:`describe` turns an
exception into the one line that ``main`` prints; :func:`shape_text` writes a shape as
the messages do (``height x width``).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from ..inputs import shape_text  # noqa: F401  (the commands' messages write shapes so)
from ..io import ImageFileError

PROG = "fastosmosis"
PROGRESS_INTERVAL = 1.0  # seconds between progress lines when stderr is not a terminal


class Console:
    """Notes and progress on stderr, results on stdout; silent with --quiet."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.notes = []

    def note(self, message):
        """Keep a note until :meth:`flush_notes`, so an error that follows stays one line."""
        self.notes.append(message)

    def flush_notes(self):
        for message in self.notes if not self.quiet else ():
            print(f"{PROG}: note: {message}", file=sys.stderr, flush=True)
        self.notes = []

    def say(self, message):
        if not self.quiet:
            print(message, flush=True)

    def status(self, message):
        """A line on stderr now (what the program is doing)."""
        if not self.quiet:
            print(f"{PROG}: {message}", file=sys.stderr, flush=True)


class Progress:
    """``callback(channel, iteration, energy)`` of fuse that shows the progress.

    On a terminal: one line, updated in place (tqdm), with channel, iteration, energy
    and relative change. Otherwise: a plain line for the first iteration of each channel
    and then at most one every ``interval`` seconds. Nothing when ``quiet``.
    """

    def __init__(
        self,
        n_channels,
        *,
        quiet=False,
        stream=None,
        interval=PROGRESS_INTERVAL,
        bar_interval=0.1,
    ):
        self.n_channels = n_channels
        self.bar_interval = bar_interval
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.interval = interval
        self.terminal = not quiet and isatty(self.stream)
        self.channel = None
        self.previous = None
        self.last_line = -math.inf
        self.bar = None

    def _label(self, channel):
        return f"channel {channel + 1}/{self.n_channels}"

    def __call__(self, channel, iteration, energy):
        if self.quiet:
            return None
        if channel != self.channel:
            self.channel, self.previous, self.last_line = channel, None, -math.inf
        previous, self.previous = self.previous, energy
        change = abs(energy - previous) / abs(previous) if previous else math.nan
        change_text = "-" if math.isnan(change) else f"{change:.2e}"
        if self.terminal:
            self._bar_update(channel, iteration, energy, change_text)
            return None
        now = time.monotonic()
        if iteration == 1 or now - self.last_line >= self.interval:
            self.last_line = now
            print(
                f"{self._label(channel)}  iteration {iteration}  energy {energy:.10g}"
                f"  relative change {change_text}",
                file=self.stream,
                flush=True,
            )
        return None

    def _bar_update(self, channel, iteration, energy, change_text):
        from tqdm.auto import tqdm

        text = (
            f"{self._label(channel)}  iteration {iteration}  energy {energy:.10g}"
            f"  relative change {change_text}"
        )
        if self.bar is None:
            self.bar = tqdm(
                desc=text,
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
                mininterval=self.bar_interval,
                bar_format="{desc}  [{elapsed}, {rate_fmt}]",
                unit="it",
            )
        elif iteration == 1:
            self.bar.reset()
        self.bar.set_description_str(text, refresh=False)
        self.bar.update(iteration - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def summary(self, result):
        """One line per channel: iterations, final energy, why it stopped, time."""
        self.close()
        if self.quiet:
            return
        for c, iterations in enumerate(result.iterations):
            energies = np.asarray(result.energies[c])
            final = f"{energies[-1]:.10g}" if energies.size else "-"
            counts = [f"{int(np.sum(result.pd_iterations[c]))} primal-dual iterations"]
            if len(result.linear_iterations[c]):  # solver "bcd"
                counts.insert(0, f"{int(np.sum(result.linear_iterations[c]))} CG iterations")
                if result.stationarity[c].size:
                    counts.append(f"stationarity {result.stationarity[c][-1]:.2g}")
            print(
                f"{self._label(c)}: {iterations} iterations, energy {final}, "
                f"{', '.join(counts)}, stopped: {result.stop_reasons[c]}, "
                f"{result.channel_seconds[c]:.2f} s",
                file=self.stream,
                flush=True,
            )


def isatty(stream):
    """Whether ``stream`` is a terminal (False for streams that cannot tell)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def describe(exc):
    """The one line printed for an error a user can fix: ``FILE: what is wrong``."""
    if isinstance(exc, OSError) and not isinstance(exc, ImageFileError):
        if exc.filename:
            return f"{exc.filename}: {exc.strerror or exc}"
        return exc.strerror or str(exc)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
