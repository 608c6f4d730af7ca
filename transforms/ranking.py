"""Ranks in bounded pieces: each element's place in its group's sorted order,
without one worker holding a whole group.

Stratified splits (split.py) and the shard plan (shard.py) rank each class's
images by their seeded hash. A class may hold any number of images, and a
GroupByKey of a whole class puts all of them in one worker: 50 million paths
ranked on one core, and on Flink one element of Beam's data plane (a class of
300,000 paths made a TaskManager run out of direct memory). So a group is cut
into ranges of its hash, and each range is ranked by a worker of its own:

  1. count each group and find its least and greatest hash (a combine): a
     side input of one Span per group;
  2. cut a group of n into ceil(n / RANGE_TARGET) ranges of equal width of
     its span of the 64-bit hash: each holds between half and all of
     RANGE_TARGET on average, its count binomial around that (a standard
     deviation of about 100 at 10,000), so far below RANGE_BOUND. The span,
     not the whole hash: a group may have been chosen by the same hash (a
     class's validation images are its smallest hashes, a tenth of the
     space), and equal widths of the whole space put all of it in one range;
  3. count each range (a combine): a side input of about N / RANGE_TARGET +
     groups entries (tens of KB at 100 million images), which gives each
     range its offset, the count of the ranges before it in its group;
  4. group each range, sort it by the rank key, and rank = offset + place.

The rank key starts with the hash and the ranges are intervals of it, so the
ranges in order are the group in order: every element gets exactly the rank
that sorting the whole group would give it (tests/test_ranking.py checks it
against one sort, with forced ties, empty, single and skewed ranges).
"""

import typing

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics

# Paths a range holds on average at most (the mean is between half of it and
# all of it). A range is one element of a runner's data plane, each path a
# few hundred bytes there: a few MB a range.
RANGE_TARGET = 10_000
# What no range holds, tested with a margin (bench/bench_planning.py prints
# the largest): 10,000 standard deviations of a range's count above its mean.
RANGE_BOUND = 2 * RANGE_TARGET
_HASH_BITS = 64


class Ranked(typing.NamedTuple):
    item: object
    rank: int


class Span(typing.NamedTuple):
    """A group's size and its least and greatest hash."""

    count: int
    low: int
    high: int


def ranges_in(count, target=RANGE_TARGET):
    """How many ranges of the hash a group of `count` elements is cut into."""
    return max(1, -(-count // target))


def range_of(hash_value, span, target=RANGE_TARGET):
    """The range (0-based) of a hash in a group of `span`: equal widths of
    its hashes' span, in hash order."""
    return (hash_value - span.low) * ranges_in(span.count, target) // (span.high - span.low + 1)


class _Spans(beam.CombineFn):
    """Hashes -> their Span."""

    def create_accumulator(self):
        return Span(0, None, None)

    def add_input(self, span, hash_value):
        return self.merge_accumulators([span, Span(1, hash_value, hash_value)])

    def merge_accumulators(self, spans):
        spans = [span for span in spans if span.count]
        if not spans:
            return Span(0, None, None)
        return Span(sum(s.count for s in spans), min(s.low for s in spans), max(s.high for s in spans))

    def extract_output(self, span):
        return span


class _ToRange(beam.DoFn):
    def __init__(self, rank_key, target):
        self._rank_key = rank_key
        self._target = target

    def process(self, keyed, spans):
        group, item = keyed
        yield (group, range_of(self._rank_key(item)[0], spans[group], self._target)), item


class _RankRange(beam.DoFn):
    """((group, range), items) -> Ranked per item: its place in the sorted
    range plus the count of the ranges before it in its group."""

    def __init__(self, rank_key, stage):
        self._rank_key = rank_key
        self._stage = stage
        self._counts = None

    def setup(self):
        self._largest = Metrics.distribution(metrics.METRICS_NAMESPACE, metrics.group_size_name(self._stage))

    def process(self, key, range_counts):
        if range_counts is not self._counts:  # The side input is fixed per run.
            self._counts, self._offsets = range_counts, _offsets(range_counts)
        (group, _), items = key
        ordered = sorted(items, key=self._rank_key)
        self._largest.update(len(ordered))
        offset = self._offsets[key[0]]
        for place, item in enumerate(ordered):
            yield Ranked(item, offset + place)


def _offsets(range_counts):
    """(group, range) -> the count of the group's ranges before it."""
    offsets, totals = {}, {}
    for group, index in sorted(range_counts, key=lambda key: key[1]):
        offsets[(group, index)] = totals.get(group, 0)
        totals[group] = totals.get(group, 0) + range_counts[(group, index)]
    return offsets


class RankInGroups(beam.PTransform):
    """items -> {"ranked": a Ranked per item, its rank in its group sorted by
    `rank_key` (a tuple whose first field is a 64-bit hash), "counts":
    (group, count) per group}. `group_of(item)` is the group's key (encoded
    deterministically: strings, numbers, tuples of them). `stage` names the
    distribution of range sizes among the job's metrics; `item_type`, the
    items' type, whose registered coder then carries them."""

    def __init__(self, group_of, rank_key, stage, *, item_type=typing.Any, target=None):
        super().__init__()
        self._group_of = group_of
        self._rank_key = rank_key
        self._stage = stage
        self._item_type = item_type  # Its registered coder crosses the shuffle.
        self._target = target or RANGE_TARGET  # Read when built: tests make it small.

    def expand(self, items):
        keyed = items | "ByGroup" >> beam.Map(lambda item: (self._group_of(item), item)).with_output_types(
            typing.Tuple[typing.Any, self._item_type]
        )
        spans = (
            keyed
            | "Hashes"
            >> beam.MapTuple(lambda group, item: (group, self._rank_key(item)[0])).with_output_types(
                typing.Tuple[typing.Any, typing.Any]  # Not int: Beam's int coder stops at 2**63.
            )
            | "SpanGroups" >> beam.CombinePerKey(_Spans())
        )
        counts = spans | "Counts" >> beam.MapTuple(lambda group, span: (group, span.count))
        ranged = keyed | "ByRange" >> beam.ParDo(
            _ToRange(self._rank_key, self._target), beam.pvalue.AsDict(spans)
        ).with_output_types(typing.Tuple[typing.Any, self._item_type])
        range_counts = ranged | "RangeKeys" >> beam.Keys() | "CountRanges" >> beam.combiners.Count.PerElement()
        ranked = (
            ranged
            | "GroupRange" >> beam.GroupByKey()
            | "Rank" >> beam.ParDo(_RankRange(self._rank_key, self._stage), beam.pvalue.AsDict(range_counts))
        )
        return {"ranked": ranked, "counts": counts}
