import io
import time

from pipeline import progress


def test_reporter_prints_done_out_of_matched():
    stream = io.StringIO()
    with progress.Reporter(stream=stream, interval_s=0.05):
        progress.add_matched(10)
        progress.add_finished(4)
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert lines and lines[-1].startswith("progress: 4/10 files done (40%), ")
    assert lines[-1].endswith(" files/s")


def test_reporter_is_silent_when_nothing_was_matched_here():
    stream = io.StringIO()
    with progress.Reporter(stream=stream, interval_s=0.05):
        time.sleep(0.2)
    assert stream.getvalue() == ""
