"""The writing stage of `--writer beam`: Beam's own `WriteToTFRecord`.

Kept for comparison and for users who want Beam's own sink. Measured on a
2-class set on DirectRunner: Beam's writer places records in shards at random
(two runs give different files) and writes each shard as all images of one
class followed by the next (2 label runs per shard), and its GroupByKey holds
every encoded image in memory before writing. The default writer
(`shard_writer.py`) has none of these problems; see docs/design.md, "Shards".
"""

import hashlib
import posixpath

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.formats import tfrecord
from transforms.layout import ShardInfo
from transforms.layout import parse_shard_name
from transforms.storage import Storage
from transforms.storage import configure_beam_filesystems

SHARD_TEMPLATE = "-SSSSS-of-NNNNN"  # Beam's spelling of layout.shard_name.


class _DescribeShard(beam.DoFn):
    """A written shard file -> ShardInfo, by reading it back."""

    def __init__(self, s3_client_settings):
        self._s3_client_settings = s3_client_settings

    def setup(self):
        configure_beam_filesystems(self._s3_client_settings)
        self._storage = Storage(self._s3_client_settings)

    def process(self, path):
        data = self._storage.read(path)
        name = posixpath.basename(path)
        split, index, num_shards = parse_shard_name(name)
        count = sum(1 for _ in tfrecord.read_records(data))
        yield ShardInfo(
            split=split,
            index=index,
            num_shards=num_shards,
            file=name,
            num_examples=count,
            num_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )


class WriteShards(beam.PTransform):
    """Serialized records -> `<output>/<split>-SSSSS-of-NNNNN.tfrecord`, then a
    ShardInfo per file (read back from the written files)."""

    def __init__(self, output, split, num_shards, s3_client_settings):
        super().__init__()
        self._output = output
        self._split = split
        self._num_shards = num_shards
        self._s3_client_settings = s3_client_settings

    def expand(self, records):
        return (
            records
            | "WriteToTFRecord"
            >> beam.io.WriteToTFRecord(
                FileSystems.join(self._output, self._split),
                file_name_suffix=tfrecord.SUFFIX,
                num_shards=self._num_shards,
                shard_name_template=SHARD_TEMPLATE,
            )
            | "Describe" >> beam.ParDo(_DescribeShard(self._s3_client_settings))
        )
