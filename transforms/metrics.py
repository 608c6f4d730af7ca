"""What the stages count: Beam metrics, and the same progress in this process.

Beam's counters (namespace METRICS_NAMESPACE) reach the launcher when the job
ends, from any runner. On the local runner the stages also run in the
launcher's own process, so they bump the in-process counters here as well,
which the command line's progress line reads while the job runs
(pipeline/progress.py). Shard-writing processes of a local run
(shard_processes.py) count into a shared value the launcher reads with its
own. On remote runners those stay at zero in the launcher, which reads the
workers' progress records in --output instead (progress_records.py).
"""

import threading

# Namespace of every Beam metric the pipeline reports.
METRICS_NAMESPACE = "im2tfrecord"
# Counters of the shards (and their images) an interrupted run completed and
# this one reused: the summary says so, or its rate would be a mystery.
REUSED_SHARDS = "reused_shards"
REUSED_IMAGES = "reused_images"

_lock = threading.Lock()
_matched = 0
_finished = 0
_shared = []  # multiprocessing Values that other processes count finished inputs into.
_counting_into = None  # In such a process: the Value its add_finished bumps.


def failed_counter_name(reason):
    return f"failed/{reason}"


# The distribution each grouping stage records of the items one group of it
# held (its max is the largest group: bench/bench_planning.py prints it).
GROUP_SIZE_PREFIX = "group_size/"


def group_size_name(stage):
    return GROUP_SIZE_PREFIX + stage


def add_matched(n):
    """Counts inputs the listing found."""
    global _matched
    with _lock:
        _matched += n


def add_finished(n):
    """Counts inputs that reached their end: written, failed or skipped."""
    global _finished
    if _counting_into is not None:
        with _counting_into.get_lock():
            _counting_into.value += n
        return
    with _lock:
        _finished += n


def share_finished(value):
    """Adds what other processes count into `value` to this one's snapshot."""
    with _lock:
        _shared.append(value)


def unshare_finished(value):
    """Keeps `value`'s count in this process's own and stops reading it."""
    global _finished
    with _lock:
        if value in _shared:
            _shared.remove(value)
            _finished += value.value


def count_finished_into(value):
    """In a process that works for another: add_finished counts into `value`."""
    global _counting_into
    _counting_into = value


def snapshot():
    """(matched, finished) in this process so far."""
    with _lock:
        return _matched, _finished + sum(value.value for value in _shared)


def reset():
    global _matched, _finished
    with _lock:
        _matched = _finished = 0
        _shared.clear()
