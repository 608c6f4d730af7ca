"""pipeline/progress.py: the one progress line of every command."""

import io
import threading

from pipeline import progress
from pipeline.progress import Reading
from pipeline.progress import format_line

# An interval no test reaches: the printer's thread stays asleep and the test
# calls `report` itself, so nothing depends on when a timer fires.
_NEVER_S = 3600


class _Clock:
    """A monotonic clock that only moves when the test moves it."""

    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


class _Stream(io.StringIO):
    """A stream that says when a line with `wanted` has been written to it."""

    def __init__(self, wanted, tty=False):
        super().__init__()
        self._wanted = wanted
        self._tty = tty
        self.seen = threading.Event()

    def isatty(self):
        return self._tty

    def write(self, text):
        written = super().write(text)
        if self._wanted in self.getvalue():
            self.seen.set()
        return written


def test_line_gives_done_of_total_rate_and_eta():
    assert format_line("converting", Reading(40, 100, "files"), 8.0) == (
        "converting: 40/100 files (40%), 5.0 files/s, ETA 12 s"
    )


def test_line_in_scaled_units_with_a_detail():
    reading = Reading(3 * 2**20, 12 * 2**20, "MiB", 2**20, detail="7/20 records")
    assert format_line("checking", reading, 2.0) == ("checking: 3.0/12.0 MiB (25%), 1.5 MiB/s, ETA 6 s; 7/20 records")


def test_line_without_a_total_has_no_share_and_no_eta():
    assert format_line("uploading", Reading(5_000_000, None, "MB", 1e6), 2.0) == ("uploading: 5.0 MB, 2.5 MB/s")


def test_log_gets_a_new_line_per_report_and_nothing_when_unmeasured():
    stream, clock, counts = io.StringIO(), _Clock(), {"done": 4}

    def measure():
        return Reading(counts["done"], 10) if counts["done"] else None

    with progress.Progress("converting", measure, stream=stream, interval_s=_NEVER_S, clock=clock) as line:
        clock.now += 2.0
        line.report()
        counts["done"] = 0
        line.report()
    assert stream.getvalue() == "converting: 4/10 files (40%), 2.0 files/s, ETA 3 s\n"


def test_a_job_s_rate_counts_from_its_first_reading():
    # A cluster job is first read after its start-up (here 30 s, 10 done):
    # that line has no rate; the next ones count from it, not from the start.
    stream, clock, counts = io.StringIO(), _Clock(), {"done": None}

    def measure():
        return Reading(counts["done"], 150) if counts["done"] is not None else None

    with progress.Progress(
        "converting", measure, stream=stream, interval_s=_NEVER_S, clock=clock, rate_from_first_reading=True
    ) as line:
        clock.now += 25.0
        line.report()  # Nothing to read yet: no line, and no start taken.
        clock.now += 5.0
        counts["done"] = 10
        line.report()
        clock.now += 5.0
        counts["done"] = 60
        line.report()
    assert stream.getvalue().splitlines() == [
        "converting: 10/150 files (6%)",
        "converting: 60/150 files (40%), 10.0 files/s, ETA 9 s",
    ]


def test_thread_reports_every_interval_and_a_terminal_is_wiped_at_the_end():
    # Waits for the line itself, however late the thread runs on a busy machine.
    stream = _Stream("converting: 4/10 files (40%), ", tty=True)
    with progress.Progress("converting", lambda: Reading(4, 10), stream=stream, interval_s=0.01):
        assert stream.seen.wait(timeout=60), stream.getvalue()
    shown = stream.getvalue()
    assert "\n" not in shown and shown.startswith("\rconverting: 4/10 files (40%), ")
    assert shown.endswith("\r") and not shown.rsplit("\r", 2)[-2].strip()


def test_at_its_total_the_rate_stays_and_a_log_gets_no_repeated_line():
    # 100 files in 10 s, then 15 s of side files: the line stays at 10.0
    # files/s (it fell to 4.0 by the end before), printed once; report_last
    # does not print it a second time.
    stream, clock, counts = io.StringIO(), _Clock(), {"done": 40}

    def measure():
        return Reading(counts["done"], 100)

    with progress.Progress("converting", measure, stream=stream, interval_s=_NEVER_S, clock=clock) as line:
        clock.now += 4.0
        line.report()
        clock.now += 6.0
        counts["done"] = 100
        line.report()
        for _ in range(3):
            clock.now += 5.0
            line.report()
        line.report_last()
        # Still there after a minute of side files: said again, once, so a
        # log that CI watches is not silent for minutes.
        clock.now += 50.0
        line.report()
        line.report()
    assert stream.getvalue().splitlines() == [
        "converting: 40/100 files (40%), 10.0 files/s, ETA 6 s",
        "converting: 100/100 files (100%), 10.0 files/s, ETA 0 s",
        "converting: 100/100 files (100%), 10.0 files/s, ETA 0 s",
    ]


def test_a_job_first_read_at_its_total_shows_no_rate():
    # A small job on a cluster: every shard already finished at the first
    # reading. It has no rate of its own (it was 0.0 files/s on every line).
    stream, clock = io.StringIO(), _Clock()
    with progress.Progress(
        "converting",
        lambda: Reading(302, 302),
        stream=stream,
        interval_s=_NEVER_S,
        clock=clock,
        rate_from_first_reading=True,
    ) as line:
        for _ in range(3):
            clock.now += 5.0
            line.report()
        line.report_last()
    assert stream.getvalue().splitlines() == ["converting: 302/302 files (100%)"]


def test_a_job_s_count_below_its_first_reading_shows_no_negative_rate():
    # A lost worker's shard written again: its count starts over below the first reading.
    stream, clock, counts = io.StringIO(), _Clock(), {"done": 50}
    with progress.Progress(
        "converting",
        lambda: Reading(counts["done"], 150),
        stream=stream,
        interval_s=_NEVER_S,
        clock=clock,
        rate_from_first_reading=True,
    ) as line:
        line.report()
        clock.now += 5.0
        counts["done"] = 20
        line.report()
    assert stream.getvalue().splitlines() == [
        "converting: 50/150 files (33%)",
        "converting: 20/150 files (13%), 0.0 files/s",
    ]
