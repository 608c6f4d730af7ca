"""Stage 5: write serialized records to a fixed number of TFRecord shards.

Shards are named `train-SSSSS-of-NNNNN.tfrecord` inside `--output`, which may
be any Beam filesystem path (local folder or `s3://` prefix).
"""

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

SPLIT = "train"
SHARD_SUFFIX = ".tfrecord"
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"


def shard_name(split, index, num_shards):
    return f"{split}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


class WriteShards(beam.PTransform):
    """Serialized records -> `<output>/train-SSSSS-of-NNNNN.tfrecord` files.

    Uses Beam's `WriteToTFRecord`, which picks each record's shard at random.
    """

    def __init__(self, output, num_shards):
        super().__init__()
        self._output = output
        self._num_shards = num_shards

    def expand(self, records):
        return records | beam.io.WriteToTFRecord(
            FileSystems.join(self._output, SPLIT),
            file_name_suffix=SHARD_SUFFIX,
            num_shards=self._num_shards,
            shard_name_template=SHARD_TEMPLATE)
