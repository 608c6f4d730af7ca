"""Plans shards: which shard each image goes to, grouping only paths.

Within a split, each class's images are ranked by their seeded hash and dealt
round-robin over the split's shards, each class starting where the previous
one stopped. Every shard then holds the same number of records (give or take
one) and every class spread evenly over all shards; inside a shard, records
are ordered by hash (the writer sorts them), so labels are mixed.

TFDS picks shards by hash range instead, which needs no per-class ranking but
leaves shards unbalanced by about 1/sqrt(records per shard): 10% on a
400-image set. Ranking costs one more shuffle of paths (bench/bench_planning.py
measures its bytes), in pieces of a class no bigger than ranking.py's bound.

A shard is written by one worker from its paths, so its size is bounded too:
by default a split gets DEFAULT_SHARDS shards, more where they would hold
over AUTO_SHARD_IMAGES images, and no shard may hold over MAX_SHARD_IMAGES
(the job stops before writing, naming the --num_shards that would do).
"""

import math
import typing

import apache_beam as beam

from transforms.converting import fetch_and_convert
from transforms.imaging import ConvertedImage
from transforms.ranking import RankInGroups
from transforms.split import Placed
from transforms.split import rank_key
from transforms.storage import Storage

# --num_shards left out: DEFAULT_SHARDS per split, more for a split whose
# shards would hold over AUTO_SHARD_IMAGES images (the shards of 100 million
# images in 4 would be 25 million paths in one worker each, and 600 GB files).
AUTO = 0
DEFAULT_SHARDS = 4
# 1 GB of 256 px records (25 KB each): TFDS aims at 64 MiB to 1 GiB a shard.
AUTO_SHARD_IMAGES = 40_000
# The most images one shard may hold, however its count was asked for: one
# worker writes a shard and holds its planned paths while it does (sorted
# into the shard's order, about 1 KB apiece in Python: 250 MB at this bound),
# and on a cluster the shard's group is one element of Beam's data plane
# (about 270 bytes a path as shuffled: 70 MB, within the 256 MiB of direct
# memory runners/flink/cluster.sh gives a TaskManager's tasks).
MAX_SHARD_IMAGES = 250_000


class ShardTooLargeError(ValueError):
    """Shards asked for that one worker could not write."""


def parse_num_shards(text):
    """'8' -> {None: 8} (every split); 'train=16,validation=2' -> per split;
    None (left out) -> {None: AUTO}."""
    if text is None:
        return {None: AUTO}
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


def shards_for_split(split, count, num_shards, shard_size_bytes=None, record_bytes=None, multiple=1):
    """How many shards a split of `count` records gets: never more than
    records, rounded up to a multiple of `multiple` (--shard_multiple: the
    workers that will train on it, each reading whole shards) where the
    records allow; ShardTooLargeError when that would put over
    MAX_SHARD_IMAGES in one shard."""
    if shard_size_bytes:
        wanted = math.ceil(count * record_bytes / shard_size_bytes)
    else:
        wanted = num_shards.get(split, num_shards.get(None))
        if wanted is None:
            raise ValueError(f"--num_shards names no shard count for split {split!r}")
        if wanted == AUTO:
            wanted = max(DEFAULT_SHARDS, math.ceil(count / AUTO_SHARD_IMAGES))
    shards = max(1, min(round_up(wanted, multiple), count))
    if math.ceil(count / shards) > MAX_SHARD_IMAGES:
        needed = math.ceil(count / MAX_SHARD_IMAGES)
        raise ShardTooLargeError(
            f"the {split} split's {count:,} images in {shards} shard{'s' if shards > 1 else ''} would be "
            f"{math.ceil(count / shards):,} "
            f"images a shard, over the {MAX_SHARD_IMAGES:,} one worker writes (it holds a shard's paths): "
            f"ask for {needed} shards or more (--num_shards {split}={needed}), or leave --num_shards out"
        )
    return shards


def fixed_shard_count(num_shards, split, multiple=1):
    """The shard count of a split that --writer beam must know before the
    run: as asked, or DEFAULT_SHARDS where --num_shards was left out,
    rounded up to a multiple of `multiple`."""
    return round_up(num_shards.get(split, num_shards.get(None)) or DEFAULT_SHARDS, multiple)


def round_up(count, multiple):
    """`count` rounded up to a multiple of `multiple` (--shard_multiple)."""
    return math.ceil(count / multiple) * multiple


class _DealToShards(beam.DoFn):
    """A class's image, ranked in its (split, class), -> ((split, shard,
    shards), image): dealt round-robin, each class starting where the
    classes before it in the split stopped."""

    def __init__(self, num_shards, shard_size_bytes, multiple):
        self._num_shards = num_shards
        self._shard_size_bytes = shard_size_bytes
        self._multiple = multiple
        self._counts = None

    def process(self, ranked, counts, record_bytes):
        if counts is not self._counts:  # The side input is fixed per run.
            self._counts = counts
            self._plan = self._plan_from(counts, record_bytes)
        image, rank = ranked
        shards, offsets = self._plan[image.split]
        yield (image.split, (offsets[image.label] + rank) % shards, shards), image

    def _plan_from(self, counts, record_bytes):
        """split -> (its shard count, class -> where the class starts dealing)."""
        plan = {}
        for split in {s for s, _ in counts}:
            offsets, total = {}, 0
            for label in sorted(lbl for s, lbl in counts if s == split):
                offsets[label] = total
                total += counts[(split, label)]
            plan[split] = (
                shards_for_split(split, total, self._num_shards, self._shard_size_bytes, record_bytes, self._multiple),
                offsets,
            )
        return plan


class PlanShards(beam.PTransform):
    """Placed images -> ((split, shard index, shard count), [Placed, ...]).

    `record_bytes` is a singleton PCollection with the estimated bytes of one
    record (used only with a target shard size), or None; every count is
    rounded up to a multiple of `shard_multiple` (shards_for_split).
    """

    def __init__(self, num_shards, shard_size_bytes=None, record_bytes=None, shard_multiple=1):
        super().__init__()
        self._num_shards = num_shards
        self._shard_size_bytes = shard_size_bytes
        self._record_bytes = record_bytes
        self._shard_multiple = shard_multiple

    def expand(self, placed):
        ranked = placed | "RankInClass" >> RankInGroups(
            lambda image: (image.split, image.label), rank_key, "PlanShards", item_type=Placed
        )
        record_bytes = (
            self._record_bytes
            if self._record_bytes is not None
            else placed.pipeline | "NoEstimate" >> beam.Create([None])
        )
        return (
            ranked["ranked"]
            | "Deal"
            >> beam.ParDo(
                _DealToShards(self._num_shards, self._shard_size_bytes, self._shard_multiple),
                beam.pvalue.AsDict(ranked["counts"]),
                beam.pvalue.AsSingleton(record_bytes),
            ).with_output_types(typing.Tuple[typing.Tuple[str, int, int], Placed])
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
            | "Sample" >> beam.combiners.Top.Smallest(_SIZE_SAMPLE, key=rank_key)
            | "Measure" >> beam.ParDo(_MeanRecordBytes(self._settings, self._s3_client_settings))
        )
