"""The conversion's progress line, printed while the job runs.

It reads the in-process counters the stages bump (transforms/metrics.py):
on the local runner they run in this process; on remote runners the counters
stay at zero here and no progress line is printed.
"""

import sys
import threading
import time

from transforms.metrics import reset
from transforms.metrics import snapshot

# How often the progress line is printed, in seconds.
_INTERVAL_S = 5.0


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
