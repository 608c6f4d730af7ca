"""How far a job has come, told through --output: progress on any runner.

On the local runner the launcher reads the stages' counters in its own
process (metrics.py). On Flink and Spark those counters stay in the workers
until the job ends, and the engines' own metrics do not move steadily
(Spark's accumulators arrive only when a task ends: a stage of two tasks
jumps 0, 50, 100%; Flink's come with heartbeats, and neither is read the
same way as the other). So the workers leave small hidden records in
--output itself, which a launcher reads wherever the output is (a local
folder, S3) and whatever the engine:

- `.im2tfrecord-planned.json`, {"images": N}: the images planned into
  shards, written once when planning is done (shard_writer.py's
  RecordPlannedImages);
- `.im2tfrecord-progress-<shard>.json`, {"finished": k, "images": n}: the
  images of that shard finished (written or failed), rewritten at most every
  RECORD_INTERVAL_S while the shard is written and once at its end
  (ShardProgress).

The launcher (ProgressReader) lists the shard records' prefix at most every
POLL_INTERVAL_S, reads only the records whose version changed, and adds them
up. A record is written after the images it counts, so the sum never runs
ahead of the work, but for a shard written again after a lost worker: its
old record counts until the retry's first one replaces it (at most
RECORD_INTERVAL_S in), and the sum then goes back by what was lost. The granularity is a
shard's record interval: a few seconds, not an image.

The launcher removes every such record before the job (an earlier run's
would count as this one's) and after it; they are never part of a dataset.
No Beam import: shard-writing processes use this module too.
"""

import dataclasses
import json
import logging
import threading
import time

from transforms.paths import join

PLANNED_FILE = ".im2tfrecord-planned.json"
SHARD_RECORD_PREFIX = ".im2tfrecord-progress-"
_COMMON_PREFIX = ".im2tfrecord-p"  # Of both names: one listing finds them all.
# A shard's record is written again at most this often while it is written:
# a PUT per shard in flight every 5 s (64 slots: 13 small PUTs a second), and
# a launcher's line at most about this far behind the work.
RECORD_INTERVAL_S = 5.0
# The launcher lists the records at most this often (a terminal redraws the
# line twice a second: each redraw must not be a listing of S3).
POLL_INTERVAL_S = 5.0

_LOG = logging.getLogger(__name__)


def is_progress_record(name):
    return name == PLANNED_FILE or (name.startswith(SHARD_RECORD_PREFIX) and name.endswith(".json"))


def shard_record_name(shard_file):
    return f"{SHARD_RECORD_PREFIX}{shard_file}.json"


def _write_quietly(storage, path, body):
    """Writes a record; a failure costs only the progress line, never the shard."""
    try:
        storage.write(path, json.dumps(body, sort_keys=True).encode("utf-8"))
    except Exception:
        _LOG.debug("writing the progress record %s", path, exc_info=True)


class ShardProgress:
    """A shard's progress record, kept by the worker that writes the shard."""

    def __init__(self, storage, output, shard_file, images, clock=time.monotonic):
        self._storage = storage
        self._path = join(output, shard_record_name(shard_file))
        self._images = images
        self._clock = clock
        self._finished = 0
        self._written_at = clock()

    def advance(self, n=1):
        """Counts `n` more images finished; writes the record if it is due."""
        self._finished += n
        if self._clock() - self._written_at >= RECORD_INTERVAL_S:
            self._write()

    def finish(self):
        """The shard is in place: every one of its images is finished."""
        self._finished = self._images
        self._write()

    def _write(self):
        _write_quietly(self._storage, self._path, {"finished": self._finished, "images": self._images})
        self._written_at = self._clock()


def write_planned(storage, output, images):
    """Writes PLANNED_FILE: `images` planned into shards in all."""
    _write_quietly(storage, join(output, PLANNED_FILE), {"images": images})


@dataclasses.dataclass(frozen=True)
class JobProgress:
    """Images finished so far, of `planned` (None until planning is done)."""

    finished: int
    planned: int = None


@dataclasses.dataclass(frozen=True)
class _Seen:
    version: object
    finished: int
    images: int


class ProgressReader:
    """The launcher's view of a job's progress records in `output`."""

    def __init__(self, storage, output, clock=time.monotonic):
        self._storage = storage
        self._output = output
        self._clock = clock
        self._lock = threading.Lock()  # The progress thread reads; so does the launcher, once the job ends.
        self._seen = {}  # Record name -> _Seen.
        self._planned = None
        self._polled_at = None
        self._last = None

    def read(self, fresh=False):
        """A JobProgress, or None before any record is there. Lists the
        records at most every POLL_INTERVAL_S (`fresh`: now, and reads again
        every record not yet at its end, whatever its version says: a
        version other than S3's may miss a rewrite within its clock's tick)."""
        with self._lock:
            now = self._clock()
            if fresh or self._polled_at is None or now - self._polled_at >= POLL_INTERVAL_S:
                self._polled_at = now
                try:
                    self._poll(fresh)
                except Exception:  # A listing that fails now may work next time.
                    _LOG.debug("reading progress records in %s", self._output, exc_info=True)
            return self._last

    def _poll(self, fresh):
        versions = self._storage.file_versions(self._output, SHARD_RECORD_PREFIX)
        for name, version in versions.items():
            seen = self._seen.get(name)
            if seen is None or seen.version != version or (fresh and seen.finished < seen.images):
                body = self._read(name)
                if body is not None:
                    self._seen[name] = _Seen(version, int(body["finished"]), int(body["images"]))
        for name in set(self._seen) - set(versions):  # Gone (removed by a rerun): counts nothing.
            del self._seen[name]
        if self._planned is None and PLANNED_FILE in self._storage.file_versions(self._output, PLANNED_FILE):
            body = self._read(PLANNED_FILE)
            self._planned = int(body["images"]) if body is not None else None
        if self._seen or self._planned is not None:
            self._last = JobProgress(sum(seen.finished for seen in self._seen.values()), self._planned)

    def _read(self, name):
        try:
            return json.loads(self._storage.read(join(self._output, name)))
        except Exception:  # Gone since the listing, or not whole: read it next time.
            _LOG.debug("reading the progress record %s", name, exc_info=True)
            return None


def remove_records(storage, output):
    """Removes every progress record in `output` (before and after a job)."""
    names = [name for name in storage.file_versions(output, _COMMON_PREFIX) if is_progress_record(name)]
    storage.delete([join(output, name) for name in names])
