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


_END = object()


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
    pending = collections.deque()

    def fill(shard, records):
        try:
            for record in stream_records(storage, shard, record_format):
                if not _put(records, record, stop):
                    return
            _put(records, _END, stop)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            _put(records, e, stop)

    def start(shard):
        records = queue.Queue(_QUEUED_RECORDS)
        thread = threading.Thread(target=fill, args=(shard, records), daemon=True, name="im2tfrecord-read-ahead")
        thread.start()
        pending.append((shard, records))

    upcoming = iter(shards)
    try:
        for shard in upcoming:
            start(shard)
            if len(pending) > ahead:
                break
        while pending:
            shard, records = pending.popleft()
            next_shard = next(upcoming, None)
            if next_shard is not None:
                start(next_shard)
            while (item := records.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield shard, item
    finally:
        stop.set()


def _put(records, item, stop):
    """Puts `item`, waiting while the queue is full; False once the consumer has stopped."""
    while not stop.is_set():
        try:
            records.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


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
    (in this thread when threads <= 1)."""
    if threads <= 1:
        yield from map(function, items)
        return
    chunks = iter(lambda: [*_take(items, _DECODE_CHUNK)], [])
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="im2tfrecord-decode") as pool:
        in_flight = collections.deque()
        try:
            for chunk in chunks:
                in_flight.append(pool.submit(_map_list, function, chunk))
                if len(in_flight) >= threads * _CHUNKS_IN_FLIGHT_PER_THREAD:
                    yield from in_flight.popleft().result()
            while in_flight:
                yield from in_flight.popleft().result()
        finally:
            for future in in_flight:
                future.cancel()


def _take(items, n):
    for _, item in zip(range(n), items):
        yield item


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
