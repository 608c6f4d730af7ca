"""The one progress line every command prints to stderr while it works.

On a terminal the line is redrawn in place twice a second and wiped when the
work ends (the report follows on stdout); in a log or CI, where carriage
returns would pile up, a new line is printed every five seconds when it
has changed. Each
command says what it counts through a `measure` callable; the rate and the
ETA are worked out here, the same way for all of them:

  converting: 120/398 files (30%), 41.2 files/s, ETA 7 s
  uploading: 6.3/12.6 MB (50%), 2.1 MB/s, ETA 3 s; 1/24 files
  checking: 12.1/45.0 MiB (26%), 3.1 MiB/s, ETA 11 s; 120/398 records
"""

import dataclasses
import sys
import threading
import time

from transforms import native_noise

# Redrawn this often on a terminal; a new line this often elsewhere.
_TTY_INTERVAL_S = 0.5
_LOG_INTERVAL_S = 5.0
# A log's unchanged line is printed again this often: a CI system may end a
# step whose output has been silent for some minutes.
_LOG_REPEAT_S = 60.0


@dataclasses.dataclass(frozen=True)
class Reading:
    """One look at the work: `done` of `total` (None while not yet known)
    `unit`s, shown divided by `scale` (1e6 for MB, 2**20 for MiB) with one
    decimal; `detail` is appended after a semicolon."""

    done: float
    total: float = None
    unit: str = "files"
    scale: float = 1
    detail: str = ""


def format_line(label, reading, elapsed_s, counted=None):
    """'label: done/total unit (pct%), rate unit/s, ETA n s; detail'. The
    rate is `counted` (by default all that is done) over `elapsed_s`; with
    no time elapsed there is no rate, and no ETA."""

    def amount(n):
        return f"{n / reading.scale:.1f}" if reading.scale != 1 else f"{n:.0f}"

    counted = reading.done if counted is None else counted
    rate = counted / elapsed_s if elapsed_s > 0 else 0.0
    text = f"{label}: {amount(reading.done)}"
    if reading.total:
        text += f"/{amount(reading.total)} {reading.unit} ({100 * reading.done // reading.total:.0f}%)"
    else:
        text += f" {reading.unit}"
    if elapsed_s > 0:
        text += f", {rate / reading.scale:.1f} {reading.unit}/s"
    if reading.total and rate > 0:
        text += f", ETA {max(reading.total - reading.done, 0) / rate:.0f} s"
    return text + (f"; {reading.detail}" if reading.detail else "")


class Progress:
    """Prints `label`'s progress line while the block runs.

    `measure()` returns a `Reading`, or None when there is nothing to show
    (the line is then skipped). With `rate_from_first_reading`, the rate
    counts from the first reading on, not from the start: a job on a cluster
    is read only once its workers write (after half a minute of start-up,
    which is not the rate of its work). Once the count is at its total the
    rate stays the one it reached it at (what follows, the reports and side
    files, is not the rate of the work counted), so a log's lines stop
    changing, and a line the same as the last one is printed again only
    after _LOG_REPEAT_S.
    `clock` (seconds, monotonic) and `interval_s` are there for tests, which
    call `report` themselves."""

    def __init__(
        self, label, measure, stream=None, interval_s=None, clock=time.monotonic, rate_from_first_reading=False
    ):
        self._label = label
        self._measure = measure
        self._stream = stream or sys.stderr
        # The libtiff filter puts a pipe on fd 2 (transforms/native_noise.py):
        # whether stderr is a terminal is the real one's answer.
        if stream is None:
            self._tty = native_noise.stderr_is_terminal()
        else:
            self._tty = getattr(stream, "isatty", lambda: False)()
        self._interval_s = interval_s or (_TTY_INTERVAL_S if self._tty else _LOG_INTERVAL_S)
        self._clock = clock
        self._start = clock()
        self._rate_from_first_reading = rate_from_first_reading
        self._first = None  # (time, done) of the first reading.
        self._changed = None  # (time, done) of the reading its count was first at.
        self._printed = (None, None)  # A log's last line, and when.
        self._drawn = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def __enter__(self):
        self._start = self._clock()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        if self._drawn:  # Wipe the in-place line: the report follows.
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()

    def line(self):
        """The line as it reads now, or None."""
        reading = self._measure()
        if reading is None:
            return None
        now = self._clock()
        if self._first is None:
            self._first = (now, reading.done)
        if self._changed is None or reading.done != self._changed[1]:
            self._changed = (now, reading.done)
        if reading.total and reading.done >= reading.total:
            now = self._changed[0]  # The rate it reached the total at.
        if not self._rate_from_first_reading:
            return format_line(self._label, reading, now - self._start)
        # A shard written again after a lost worker can take the count below the first reading.
        return format_line(self._label, reading, now - self._first[0], max(reading.done - self._first[1], 0))

    def report(self):
        """Prints the line once (in place on a terminal)."""
        line = self.line()
        if line is None:
            return
        if self._tty:
            self._stream.write("\r" + line.ljust(self._drawn))
            self._drawn = max(self._drawn, len(line))
        elif line != self._printed[0] or self._clock() - self._printed[1] >= _LOG_REPEAT_S:
            self._stream.write(line + "\n")
            self._printed = (line, self._clock())
        self._stream.flush()

    def report_last(self):
        """In a log, the line once more as the work ends (its counts at their
        end) unless it is the last one printed, then no more; a terminal's
        line is wiped at the end anyway."""
        self._stop.set()
        self._thread.join()
        if not self._tty:
            self.report()
            native_noise.drain()  # Before the report on stdout, not in its middle.

    def _run(self):
        while not self._stop.wait(self._interval_s):
            self.report()
