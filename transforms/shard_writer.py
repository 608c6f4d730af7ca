"""Stage 5 (default writer): fetch, decode, encode and write each shard as a stream.

The shuffle before this stage moved only paths. Here each shard's paths are
sorted by their seeded `order` hash and converted a few at a time (`convert_in_order`),
and every record is appended to the shard's file as soon as it is encoded: peak
memory depends on the number of threads, not on the size of the shard or the
dataset. A shard appears under its final name only when complete
(`Storage.open_atomic`); a retried bundle rewrites the same bytes.
"""

import hashlib

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import progress
from transforms import tfrecord
from transforms.decode import ConvertingDoFn
from transforms.decode import DecodedImage
from transforms.decode import Failure
from transforms.encode import encode_record
from transforms.errors import ERRORS
from transforms.errors import METRICS_NAMESPACE
from transforms.errors import error_row
from transforms.layout import ShardInfo
from transforms.layout import shard_name

SHARDS = "shards"  # Tag of the output that describes each written shard.


def _in_shard_order(image):
    return image.order, image.relative_path


class _HashingWriter:
    """Counts and hashes the bytes passing through to `sink`."""

    def __init__(self, sink):
        self._sink = sink
        self.num_bytes = 0
        self._sha256 = hashlib.sha256()

    def write(self, data):
        self._sink.write(data)
        self._sha256.update(data)
        self.num_bytes += len(data)

    def hexdigest(self):
        return self._sha256.hexdigest()


class _WriteShard(ConvertingDoFn):

    def __init__(self, output, schema, settings, s3_client_settings, concurrency):
        super().__init__(settings, s3_client_settings, concurrency)
        self._output = output
        self._schema = schema

    def setup(self):
        super().setup()
        self._written = Metrics.counter(METRICS_NAMESPACE, "written")

    def process(self, shard, class_names):
        (split, index, num_shards), images = shard
        label_ids = {name: i for i, name in enumerate(class_names)}
        name = shard_name(split, index, num_shards)
        per_class = {}
        errors = []
        with self._storage.open_atomic(FileSystems.join(self._output, name)) as sink:
            writer = _HashingWriter(sink)
            for image, result in self.convert(sorted(images, key=_in_shard_order), lambda image: image.path):
                if isinstance(result, Failure):
                    errors.append(error_row(image.path, result.stage, result.reason, result.message))
                    continue
                decoded = DecodedImage(image.label, image.relative_path, result)
                writer.write(tfrecord.frame(encode_record(decoded, label_ids, self._schema)))
                per_class[image.label] = per_class.get(image.label, 0) + 1
                Metrics.counter(METRICS_NAMESPACE, f"class/{image.label}").inc()
                self._written.inc()
                progress.add_finished(1)
        yield from errors  # Only once the shard is in place: a retry must not repeat them.
        yield beam.pvalue.TaggedOutput(SHARDS, ShardInfo(
            split, index, num_shards, name, sum(per_class.values()), writer.num_bytes,
            writer.hexdigest(), dict(sorted(per_class.items()))))


class WriteShardStreams(beam.PTransform):
    """((split, index, count), [Placed]) -> ShardInfo on SHARDS, error rows on ERRORS."""

    def __init__(self, output, class_names, schema, settings, s3_client_settings, concurrency):
        super().__init__()
        self._output = output
        self._class_names = class_names
        self._schema = schema
        self._settings = settings
        self._s3_client_settings = s3_client_settings
        self._concurrency = concurrency

    def expand(self, shards):
        return shards | beam.ParDo(
            _WriteShard(self._output, self._schema, self._settings, self._s3_client_settings,
                        self._concurrency),
            beam.pvalue.AsSingleton(self._class_names)).with_outputs(SHARDS, ERRORS)
