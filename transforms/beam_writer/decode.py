"""DecodeAndResize: fetch, decode and resize each image, several at a time
(--writer beam's first stage).

Each worker gets one `Converter` (converting.py: a thread pool for reads and
decodes, a Storage), built in setup(), and converts batches of images
through it, emitting each as a DecodedImage. The default writer does not
use this stage: shard_writer.py converts each shard's images in the stream
that writes the shard.
"""

import apache_beam as beam

from transforms.converting import Converter
from transforms.converting import DecodedImage
from transforms.converting import Failure
from transforms.converting import window_for
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.paths import relative_or_full
from transforms.storage import configure_beam_filesystems


class _DecodeBatch(beam.DoFn):
    """A batch of (label, path) -> DecodedImage, or an error row, each; a Converter per worker."""

    def __init__(self, input_root, settings, s3_client_settings, concurrency):
        self._input_root = input_root
        self._settings = settings
        self._s3_client_settings = s3_client_settings
        self._concurrency = concurrency

    def setup(self):
        configure_beam_filesystems(self._s3_client_settings)
        self._converter = Converter(self._settings, self._s3_client_settings, self._concurrency)

    def teardown(self):
        self._converter.close()

    def process(self, batch):
        for (label, path), result in self._converter.convert(batch, lambda keyed: keyed[1]):
            if isinstance(result, Failure):
                yield error_row(path, result.stage, result.reason, result.message)
            else:
                yield DecodedImage(label, relative_or_full(path, self._input_root), result)


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
