"""Plans shards: which shard each image goes to, grouping only paths.

Within a split, each class's images are ranked by their seeded hash and dealt
round-robin over the split's shards, each class starting where the previous
one stopped. Every shard then holds the same number of records (give or take
one) and every class spread evenly over all shards; inside a shard, records
are ordered by hash (the writer sorts them), so labels are mixed.

TFDS picks shards by hash range instead, which needs no per-class ranking but
leaves shards unbalanced by about 1/sqrt(records per shard): 10% on a
400-image set. Ranking costs one more shuffle of paths (about 265 bytes a
placement as Beam encodes it, bench/bench_planning.py) and keeps a class's
paths together in one worker: about 270 MB for a million-image class.
"""

import math

import apache_beam as beam

from transforms.converting import fetch_and_convert
from transforms.imaging import ConvertedImage
from transforms.storage import Storage


def parse_num_shards(text):
    """'8' -> {None: 8} (every split); 'train=16,validation=2' -> per split."""
    text = str(text).strip()
    if "=" not in text:
        return {None: _positive(text, "--num_shards")}
    counts = {}
    for part in text.split(","):
        split, _, count = part.partition("=")
        if split.strip() in counts:
            raise ValueError(f"--num_shards names split {split.strip()!r} twice")
        counts[split.strip()] = _positive(count, f"--num_shards for {split.strip()!r}")
    return counts


def _positive(text, what):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"{what} must be at least 1, got {value}")
    return value


def shards_for_split(split, count, num_shards, shard_size_bytes=None, record_bytes=None):
    """How many shards a split of `count` records gets: never more than records."""
    if shard_size_bytes:
        wanted = math.ceil(count * record_bytes / shard_size_bytes)
    else:
        wanted = num_shards.get(split, num_shards.get(None))
        if wanted is None:
            raise ValueError(f"--num_shards names no shard count for split {split!r}")
    return max(1, min(wanted, count))


class _DealToShards(beam.DoFn):
    def __init__(self, num_shards, shard_size_bytes):
        self._num_shards = num_shards
        self._shard_size_bytes = shard_size_bytes
        self._counts = None

    def process(self, group, counts, record_bytes):
        if counts is not self._counts:  # The side input is fixed per run.
            self._counts = counts
            self._plan = self._plan_from(counts, record_bytes)
        (split, label), images = group
        shards, offsets = self._plan[split]
        for rank, image in enumerate(sorted(images)):
            yield (split, (offsets[label] + rank) % shards, shards), image

    def _plan_from(self, counts, record_bytes):
        """split -> (its shard count, class -> where the class starts dealing)."""
        plan = {}
        for split in {s for s, _ in counts}:
            offsets, total = {}, 0
            for label in sorted(lbl for s, lbl in counts if s == split):
                offsets[label] = total
                total += counts[(split, label)]
            plan[split] = (
                shards_for_split(split, total, self._num_shards, self._shard_size_bytes, record_bytes),
                offsets,
            )
        return plan


class PlanShards(beam.PTransform):
    """Placed images -> ((split, shard index, shard count), [Placed, ...]).

    `record_bytes` is a singleton PCollection with the estimated bytes of one
    record (used only with a target shard size), or None.
    """

    def __init__(self, num_shards, shard_size_bytes=None, record_bytes=None):
        super().__init__()
        self._num_shards = num_shards
        self._shard_size_bytes = shard_size_bytes
        self._record_bytes = record_bytes

    def expand(self, placed):
        by_class = placed | "BySplitAndClass" >> beam.Map(lambda image: ((image.split, image.label), image))
        counts = by_class | "Count" >> beam.combiners.Count.PerKey()
        record_bytes = (
            self._record_bytes
            if self._record_bytes is not None
            else placed.pipeline | "NoEstimate" >> beam.Create([None])
        )
        return (
            by_class
            | "GroupClass" >> beam.GroupByKey()
            | "Deal"
            >> beam.ParDo(
                _DealToShards(self._num_shards, self._shard_size_bytes),
                beam.pvalue.AsDict(counts),
                beam.pvalue.AsSingleton(record_bytes),
            )
            | "GroupShard" >> beam.GroupByKey()
        )


# Images converted to estimate a record's size for --shard_size_mb: enough for
# a mean within about 10% on typical photo sets, a fraction of a second's work.
_SIZE_SAMPLE = 32
# Per-record bytes beside the image: feature keys and values, TFRecord framing.
_RECORD_OVERHEAD_BYTES = 200


class _MeanRecordBytes(beam.DoFn):
    def __init__(self, settings, s3_client_settings):
        self._settings = settings
        self._s3_client_settings = s3_client_settings

    def setup(self):
        self._storage = Storage(self._s3_client_settings)

    def process(self, sample):
        results = [fetch_and_convert(self._storage, self._settings, image.path) for image in sample]
        sizes = [len(result.encoded) for result in results if isinstance(result, ConvertedImage)]
        # 0 when no sample converted: nothing to estimate from (--plan says so).
        yield sum(sizes) / len(sizes) + _RECORD_OVERHEAD_BYTES if sizes else 0


class EstimateRecordBytes(beam.PTransform):
    """Placed images -> one number: the mean bytes of a record, from the
    images with the smallest hashes (a seeded, repeatable sample)."""

    def __init__(self, settings, s3_client_settings):
        super().__init__()
        self._settings = settings
        self._s3_client_settings = s3_client_settings

    def expand(self, placed):
        return (
            placed
            | "Sample" >> beam.combiners.Top.Smallest(_SIZE_SAMPLE)
            | "Measure" >> beam.ParDo(_MeanRecordBytes(self._settings, self._s3_client_settings))
        )
