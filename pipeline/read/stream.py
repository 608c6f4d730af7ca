"""Records of a worker's shards, streamed, checked, read ahead and decoded in
parallel: the Python path shared by `iter_examples`, `torch_dataset` and
`tf_dataset`'s S3 shards.

Why threads: a shard on S3 mostly waits on the network, so the next shards
are streamed while this one is consumed (`SHARDS_AHEAD`); and Pillow
releases the GIL while it decodes, so images decode on every core with the
records kept in order. Memory stays bounded: a queue of records per shard
being read, a window of chunks being decoded.
"""

import collections
import concurrent.futures
import io
import itertools
import os
import queue
import random
import threading

import botocore.exceptions
import numpy as np
from PIL import Image

from pipeline.read.info import CorruptShardError
from transforms.hashing import HashingReader
from transforms.layout import DATASET_INFO_FILE

# S3 bodies are read in large pieces: every read of the raw HTTP stream costs
# a Python call through urllib3, and records are read a header at a time.
READ_BUFFER_BYTES = 1024 * 1024

# Shards streamed ahead of the one being consumed, each by a thread of its
# own into a queue of at most _QUEUED_RECORDS: enough to keep one core
# decoding while S3 answers.
SHARDS_AHEAD = 3
_QUEUED_RECORDS = 256

# Records decoded per task, and tasks in flight per decoding thread: a task
# costs a few microseconds to hand over, a 256 px JPEG about 0.3 ms to decode.
_DECODE_CHUNK = 16
_CHUNKS_IN_FLIGHT_PER_THREAD = 4


def stream_records(storage, shard, record_format):
    """Yields the records of one shard; checks count and sha256 at its end."""
    hashing = HashingReader(storage.open_read(shard.path))
    count = 0
    try:
        with io.BufferedReader(hashing, READ_BUFFER_BYTES) as stream:
            for record in record_format.iter_records(stream):
                count += 1
                yield record
    except ValueError as e:  # iter_records: a corrupt or truncated record.
        raise CorruptShardError(f"{shard.path}: {e}") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise OSError(f"{shard.path}: {e}") from e  # S3's errors do not name the object.
    if count != shard.num_examples:
        raise CorruptShardError(f"{shard.path}: {count} records, but {DATASET_INFO_FILE} says {shard.num_examples}")
    if hashing.hexdigest() != shard.sha256:
        raise CorruptShardError(
            f"{shard.path}: sha256 {hashing.hexdigest()} differs from {DATASET_INFO_FILE}'s "
            f"{shard.sha256}: the file changed after the dataset was written"
        )


class _ShardAhead:
    """One shard streamed by a thread of its own into a bounded queue; its
    records come out of `records()` in order, its error where they stop."""

    _END = object()

    def __init__(self, storage, shard, record_format, stop):
        self.shard = shard
        self._queue = queue.Queue(_QUEUED_RECORDS)
        self._stop = stop
        self._done = False
        threading.Thread(
            target=self._fill, args=(storage, record_format), daemon=True, name="im2tfrecord-read-ahead"
        ).start()

    def _fill(self, storage, record_format):
        try:
            for record in stream_records(storage, self.shard, record_format):
                if not self._put(record):
                    return
            self._put(self._END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(e)

    def _put(self, item):
        """Puts `item`, waiting while the queue is full; False once the consumer has stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next(self, wait=True):
        """The shard's next record; _DONE at its end; _NOT_READY when `wait`
        is False and none is there yet."""
        if self._done:
            return _DONE
        try:
            item = self._queue.get(block=wait)
        except queue.Empty:
            return _NOT_READY
        if item is self._END:
            self._done = True
            return _DONE
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item


_DONE, _NOT_READY = object(), object()


def records_read_ahead(storage, shards, record_format, ahead=SHARDS_AHEAD):
    """(shard, record) for `shards` in order, the next `ahead` shards streamed
    by threads meanwhile. An error in a shard is raised where its records
    stop, after the records before it, as `stream_records` does."""
    if ahead < 1:
        for shard in shards:
            for record in stream_records(storage, shard, record_format):
                yield shard, record
        return
    stop = threading.Event()
    upcoming = iter(shards)
    pending = collections.deque(
        _ShardAhead(storage, shard, record_format, stop) for shard in itertools.islice(upcoming, ahead + 1)
    )
    try:
        while pending:
            reader = pending.popleft()
            next_shard = next(upcoming, None)
            if next_shard is not None:
                pending.append(_ShardAhead(storage, next_shard, record_format, stop))
            while (record := reader.next()) is not _DONE:
                yield reader.shard, record
    finally:
        stop.set()


def records_interleaved(storage, shards, record_format, cycle_length, deterministic=True):
    """The records of `shards` in the order tf.data's
    `interleave(cycle_length=..., block_length=1)` gives them: one record
    from each of `cycle_length` open shards in turn, a finished shard's
    place taken at once by the next shard; each open shard streamed by a
    thread of its own. deterministic=False passes over a shard with no
    record ready (as tf.data does then), waiting only when none has one.

    Why not tf.data's own interleave over a generator per shard: every
    generator call crosses into Python under its lock, and a deterministic
    interleave waits on the slowest of 16 such streams (tf_dataset from S3
    ran at 0.71 of local so, 0.92 with deterministic=False; bench_read.py).
    """
    stop = threading.Event()
    upcoming = iter(shards)
    slots = []
    try:
        for shard in itertools.islice(upcoming, cycle_length):
            slots.append(_ShardAhead(storage, shard, record_format, stop))
        index, idle = 0, 0
        while slots:
            reader = slots[index]
            record = reader.next(wait=deterministic or idle >= len(slots))
            if record is _DONE:
                next_shard = next(upcoming, None)
                if next_shard is None:
                    del slots[index]
                    index = index % len(slots) if slots else 0
                else:
                    slots[index] = _ShardAhead(storage, next_shard, record_format, stop)
                continue
            if record is _NOT_READY:
                idle += 1
            else:
                idle = 0
                yield record
            index = (index + 1) % len(slots)
    finally:
        stop.set()


def shuffled(items, buffer_size, rng):
    """Items in random order, through a buffer of `buffer_size`, like tf.data's shuffle."""
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        index = rng.randrange(buffer_size)
        yield buffer[index]
        buffer[index] = item
    rng.shuffle(buffer)
    yield from buffer


def mapped_in_order(function, items, threads):
    """function(item) for each item, in order, computed by `threads` threads
    (in this thread when threads <= 1). An error raised by `items` (a damaged
    shard) is raised after the results of every item before it."""
    if threads <= 1:
        yield from map(function, items)
        return
    items = iter(items)
    error = None
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="im2tfrecord-decode") as pool:
        in_flight = collections.deque()
        try:
            while error is None:
                chunk = []
                try:
                    for item in itertools.islice(items, _DECODE_CHUNK):
                        chunk.append(item)
                except Exception as e:  # noqa: BLE001 - raised below, after the items before it
                    error = e
                if chunk:
                    in_flight.append(pool.submit(_map_list, function, chunk))
                if len(chunk) < _DECODE_CHUNK:
                    break
                if len(in_flight) >= threads * _CHUNKS_IN_FLIGHT_PER_THREAD:
                    yield from in_flight.popleft().result()
            while in_flight:
                yield from in_flight.popleft().result()
        finally:
            for future in in_flight:
                future.cancel()
    if error is not None:
        raise error


def _map_list(function, chunk):
    return [function(item) for item in chunk]


def decode_threads(threads):
    """Decoding threads for `threads=None`: one per core this process may use."""
    if threads is not None:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def decode(encoded, mode):
    """Pixels of an encoded image as numpy uint8 HxWxC, in Pillow's `mode`."""
    with Image.open(io.BytesIO(encoded)) as image:
        pixels = np.asarray(image.convert(mode))
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def epoch_rng(seed, epoch):
    """The random order of one epoch: the same on every run for a seed (and
    in every process: a str seed is hashed with sha512, not Python's hash)."""
    return random.Random(None if seed is None else f"{seed}/{epoch}")
