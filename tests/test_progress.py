import io
import threading

from pipeline import progress
from transforms import metrics

# An interval no test reaches: the reporter's thread stays asleep and the test
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

    def __init__(self, wanted):
        super().__init__()
        self._wanted = wanted
        self.seen = threading.Event()

    def write(self, text):
        written = super().write(text)
        if self._wanted in self.getvalue():
            self.seen.set()
        return written


def test_reporter_prints_done_out_of_matched():
    stream, clock = io.StringIO(), _Clock()
    with progress.Reporter(stream=stream, interval_s=_NEVER_S, clock=clock) as reporter:
        metrics.add_matched(10)
        metrics.add_finished(4)
        clock.now += 2.0
        reporter.report()
    assert stream.getvalue() == "progress: 4/10 files done (40%), 2.0 files/s\n"


def test_reporter_is_silent_when_nothing_was_matched_here():
    stream, clock = io.StringIO(), _Clock()
    with progress.Reporter(stream=stream, interval_s=_NEVER_S, clock=clock) as reporter:
        clock.now += 2.0
        reporter.report()
    assert stream.getvalue() == ""


def test_reporter_thread_reports_every_interval():
    # Waits for the line itself, however late the thread runs on a busy machine.
    stream = _Stream("progress: 4/10 files done (40%), ")
    with progress.Reporter(stream=stream, interval_s=0.01):
        metrics.add_matched(10)
        metrics.add_finished(4)
        assert stream.seen.wait(timeout=60), stream.getvalue()
    assert stream.getvalue().splitlines()[-1].endswith(" files/s")
