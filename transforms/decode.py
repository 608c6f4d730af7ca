"""Fetch, decode and resize each image, several at a time.

`ConvertingDoFn` does it for the default writer (shard_writer.py) and for
the DecodeAndResize stage of `--writer beam`. Pillow releases the GIL while
it decodes and resizes, and S3 GETs spend their time waiting on the network,
so a thread pool per worker keeps every core busy and overlaps network waits
with decoding, even on Beam's in-process runner.
Two limits, because the two kinds of work want different numbers of threads:
many reads may wait on the network at once (`fetch_threads`), but at most one
decode per core runs at a time (`decode_threads`, a semaphore): more decoding
threads than cores fight over the GIL each time a decoder chunk returns, and
measured on 12 MP photos, 4 decoding threads on 2 cores did 72 images/s where
2 did 117 (README, "Performance").

`convert_in_order` is the same work for a stream (one shard), with a bounded
number of images in flight so memory does not grow with the stream.
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import threading

import apache_beam as beam

from transforms import imaging
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.label import relative_path
from transforms.storage import Storage
from transforms.storage import configure_beam_filesystems

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
        with decode_slots or contextlib.nullcontext():
            return imaging.convert_image(data, settings)
    except imaging.ImageError as e:
        return Failure(STAGE, e.reason, str(e))
    except Exception as e:  # A decoder bug must cost one image, not the job.
        return Failure(STAGE, "decode_error", f"{type(e).__name__}: {e}")


def convert_in_order(pool, storage, settings, items, path_of, window, decode_slots=None):
    """Yields (item, ConvertedImage or Failure) in input order, at most
    `window` conversions in flight."""
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


@dataclasses.dataclass(frozen=True)
class Concurrency:
    """Per worker: reads at once (`fetch_threads`), decodes at once (`decode_threads`)."""

    fetch_threads: int
    decode_threads: int


class ConvertingDoFn(beam.DoFn):
    """Base for DoFns that convert images: a thread pool and a Storage per worker."""

    # S3 connections needed beside one per fetch thread (a subclass that also
    # uploads says how many uploads run at once): a pool smaller than the
    # threads using it makes urllib3 drop connections ("Connection pool is full").
    extra_connections = 0

    def __init__(self, settings, s3_client_settings, concurrency):
        self._settings = settings
        self._s3_client_settings = s3_client_settings
        self._concurrency = concurrency

    def setup(self):
        threads = self._concurrency.fetch_threads
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="fetch")
        self._decode_slots = threading.BoundedSemaphore(self._concurrency.decode_threads)
        configure_beam_filesystems(self._s3_client_settings)
        self._storage = Storage(self._s3_client_settings, max_connections=threads + self.extra_connections)

    def teardown(self):
        self._pool.shutdown(wait=True)

    def convert(self, items, path_of):
        return convert_in_order(
            self._pool,
            self._storage,
            self._settings,
            items,
            path_of,
            window_for(self._concurrency.fetch_threads),
            self._decode_slots,
        )


class _DecodeBatch(ConvertingDoFn):
    def __init__(self, input_root, settings, s3_client_settings, concurrency):
        super().__init__(settings, s3_client_settings, concurrency)
        self._input_root = input_root

    def process(self, batch):
        for (label, path), result in self.convert(batch, lambda keyed: keyed[1]):
            if isinstance(result, Failure):
                yield error_row(path, result.stage, result.reason, result.message)
            else:
                yield DecodedImage(label, relative_path(path, self._input_root), result)


class DecodeAndResize(beam.PTransform):
    """(label, path) -> DecodedImage, with failures on the ERRORS output."""

    def __init__(self, input_root, settings, s3_client_settings, concurrency):
        super().__init__()
        self._input_root = input_root
        self._settings = settings
        self._s3_client_settings = s3_client_settings
        self._concurrency = concurrency

    def expand(self, keyed):
        batch = window_for(self._concurrency.fetch_threads)
        return (
            keyed
            | "Batch" >> beam.BatchElements(min_batch_size=batch, max_batch_size=batch)
            | "Decode"
            >> beam.ParDo(
                _DecodeBatch(self._input_root, self._settings, self._s3_client_settings, self._concurrency)
            ).with_outputs(ERRORS, main="images")
        )
