"""Fetch, decode and resize images, several at a time, without Beam.

Pillow releases the GIL while it decodes and resizes, and S3 GETs spend their
time waiting on the network, so a thread pool keeps a core busy and overlaps
network waits with decoding. Two limits, because the two kinds of work want
different numbers of threads: many reads may wait on the network at once
(`fetch_threads`), but at most `decode_threads` decodes run at a time (a
semaphore): more decoding threads than cores fight over the GIL each time a
decoder chunk returns (measured on 12 MP photos, 4 decoding threads on 2
cores did 72 images/s where 2 did 117: docs/performance.md, "Performance").

Kept free of Beam so that the shard-writing processes of a local run
(shard_processes.py) start without importing it; the DoFns in beam_writer/decode.py and
shard_writer.py use the same `Converter`.
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import threading

from transforms import imaging
from transforms import native_noise
from transforms.storage import Storage

STAGE = "decode"

# Images in flight per thread: enough to keep every thread busy while the
# slowest image finishes, few enough to bound memory.
_IMAGES_PER_THREAD = 4


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    """One image ready to encode: where it came from and its new bytes."""

    label: str
    relative_path: str
    image: imaging.ConvertedImage


@dataclasses.dataclass(frozen=True)
class Failure:
    stage: str
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Concurrency:
    """Per worker: reads at once (`fetch_threads`), decodes at once
    (`decode_threads`), and processes that write shards (`processes`; 1: the
    worker's own process only, see shard_processes.py) for shards of at
    least `min_images_per_process` images."""

    fetch_threads: int
    decode_threads: int
    processes: int = 1
    min_images_per_process: int = 0


def fetch_and_convert(storage, settings, path, decode_slots=None):
    """The converted image at `path`, or a Failure; never raises.

    `decode_slots`, a semaphore, bounds how many decodes run at once."""
    try:
        data = storage.read(path)
    except Exception as e:  # Retries happen in the client; this is final.
        return Failure("read", "read_error", f"{type(e).__name__}: {e}")
    if not data:
        return Failure(STAGE, "empty_file", "file has zero bytes")
    try:
        with decode_slots or contextlib.nullcontext(), native_noise.naming(path, data):
            converted = imaging.convert_image(data, settings)
        # The duplicate report's hashes, here, outside the decode slot: the
        # bytes are in memory anyway and hashlib releases the GIL. With a pool
        # this is the reading thread, not the shard's writing thread, which
        # takes results one at a time; a shard process without a pool (one
        # decode at a time) reads, converts and writes in one thread anyway.
        return dataclasses.replace(
            converted,
            source_sha256=hashlib.sha256(data).hexdigest(),
            stored_sha256=hashlib.sha256(converted.encoded).hexdigest(),
        )
    except imaging.ImageError as e:
        return Failure(STAGE, e.reason, str(e))
    except Exception as e:  # A decoder bug must cost one image, not the job.
        return Failure(STAGE, "decode_error", f"{type(e).__name__}: {e}")


def convert_in_order(pool, storage, settings, items, path_of, window, decode_slots=None):
    """Yields (item, ConvertedImage or Failure) in input order, at most
    `window` conversions in flight (one at a time, in this thread, without a
    `pool`)."""
    if pool is None:
        for item in items:
            yield item, fetch_and_convert(storage, settings, path_of(item))
        return
    pending = collections.deque()
    for item in items:
        pending.append((item, pool.submit(fetch_and_convert, storage, settings, path_of(item), decode_slots)))
        if len(pending) >= window:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


def window_for(threads):
    return threads * _IMAGES_PER_THREAD


class Converter:
    """A thread pool, a decode semaphore and a Storage: what one process
    needs to convert images. `extra_connections`: S3 connections needed
    beside one per fetch thread (uploads of shards); a pool smaller than the
    threads using it makes urllib3 drop connections ("Connection pool is full")."""

    def __init__(self, settings, s3_client_settings, concurrency, extra_connections=0):
        threads = concurrency.fetch_threads
        self.settings = settings
        self._window = window_for(threads)
        # One read and one decode at a time (a shard-writing process's share
        # of local reads): in the calling thread, as a plain loop would, with
        # no hand-over between threads and their fight over the GIL.
        self._pool = None
        if threads > 1 or concurrency.decode_threads > 1:
            self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="fetch")
        self._decode_slots = threading.BoundedSemaphore(concurrency.decode_threads)
        self.storage = Storage(s3_client_settings, max_connections=threads + extra_connections)

    def convert(self, items, path_of):
        """Yields (item, ConvertedImage or Failure) in the order of `items`."""
        return convert_in_order(
            self._pool, self.storage, self.settings, items, path_of, self._window, self._decode_slots
        )

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
