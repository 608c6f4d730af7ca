"""Progress of a run inside this process, for the command line's progress line.

Beam metrics reach the launcher only when the job ends. On the local runner the
stages run in the launcher's own process, so they also bump these counters,
which a reporter thread prints while the job runs. On remote runners the
counters stay at zero in the launcher and no progress line is printed.
"""

import sys
import threading
import time

_lock = threading.Lock()
_matched = 0
_finished = 0

# How often the progress line is printed, in seconds.
_INTERVAL_S = 5.0


def add_matched(n):
    global _matched
    with _lock:
        _matched += n


def add_finished(n):
    """Counts inputs that reached their end: written, failed or skipped."""
    global _finished
    with _lock:
        _finished += n


def snapshot():
    with _lock:
        return _matched, _finished


def reset():
    global _matched, _finished
    with _lock:
        _matched = _finished = 0


class Reporter:
    """Prints 'progress: done/matched images, rate' to stderr until stopped.

    `clock` (seconds, monotonic) is there for tests, which call `report`
    themselves rather than wait for the thread."""

    def __init__(self, stream=sys.stderr, interval_s=_INTERVAL_S, clock=time.monotonic):
        self._stream = stream
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._start = clock()

    def __enter__(self):
        reset()
        self._start = self._clock()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(self._interval_s):
            self.report()

    def report(self):
        """Prints the progress line once, if anything was matched here."""
        matched, finished = snapshot()
        if matched:
            elapsed = self._clock() - self._start
            print(f"progress: {finished}/{matched} files done ({100 * finished // matched}%), "
                  f"{finished / elapsed:.1f} files/s", file=self._stream, flush=True)
