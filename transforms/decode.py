"""Stage 3: fetch, decode and resize each image, several at a time.

Pillow releases the GIL while it decodes and resizes, and S3 GETs spend their
time waiting on the network, so a small thread pool per worker keeps every
core busy and overlaps network waits with decoding, even on Beam's in-process
runner. Elements are batched so that each batch is spread over the pool.
"""

import concurrent.futures
import dataclasses

import apache_beam as beam

from transforms import imaging
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.storage import Storage
from transforms.label import relative_path

STAGE = "decode"

# A batch holds this many images per thread: enough to keep every thread busy
# while the slowest image of the batch finishes, few enough to bound memory.
_IMAGES_PER_THREAD = 4


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    """One image ready to encode: where it came from and its new bytes."""
    label: str
    relative_path: str
    image: imaging.ConvertedImage


class _DecodeBatch(beam.DoFn):

    def __init__(self, input_root, settings, s3_client_settings, threads):
        self._input_root = input_root
        self._settings = settings
        self._s3_client_settings = s3_client_settings
        self._threads = threads

    def setup(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self._threads, thread_name_prefix="decode")
        self._storage = Storage(self._s3_client_settings, max_connections=self._threads)

    def process(self, batch):
        for label, path, result in self._pool.map(self._convert, batch):
            if isinstance(result, imaging.ConvertedImage):
                yield DecodedImage(label, relative_path(path, self._input_root), result)
            else:
                stage, reason, message = result
                yield error_row(path, stage, reason, message)

    def _convert(self, keyed):
        """Never raises: returns the converted image or (stage, reason, message)."""
        label, path = keyed
        try:
            data = self._storage.read(path)
        except Exception as e:  # Retries happen in the client; this is final.
            return label, path, ("read", "read_error", f"{type(e).__name__}: {e}")
        if not data:
            return label, path, (STAGE, "empty_file", "file has zero bytes")
        try:
            return label, path, imaging.convert_image(data, self._settings)
        except imaging.ImageError as e:
            return label, path, (STAGE, e.reason, str(e))
        except Exception as e:  # A decoder bug must cost one image, not the job.
            return label, path, (STAGE, "decode_error", f"{type(e).__name__}: {e}")

    def teardown(self):
        self._pool.shutdown(wait=True)


class DecodeAndResize(beam.PTransform):
    """(label, path) -> DecodedImage, with failures on the ERRORS output."""

    def __init__(self, input_root, settings, s3_client_settings, threads):
        super().__init__()
        self._input_root = input_root
        self._settings = settings
        self._s3_client_settings = s3_client_settings
        self._threads = threads

    def expand(self, keyed):
        batch = self._threads * _IMAGES_PER_THREAD
        return (
            keyed
            | "Batch" >> beam.BatchElements(min_batch_size=batch, max_batch_size=batch)
            | "Decode" >> beam.ParDo(_DecodeBatch(
                self._input_root, self._settings, self._s3_client_settings,
                self._threads)).with_outputs(ERRORS, main="images"))
