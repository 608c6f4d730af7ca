"""Groups by key in bounded pieces: a GroupByKey whose groups stay small
however many items one key has.

A GroupByKey puts every item of a key in one worker. Where one key's items
grow with the data, that is one worker's memory and, on Flink, one element
of Beam's data plane: a placeholder image copied 100,000 times in a scraped
set is one sha256 (dedupe.py, find_duplicates.py), a manifest may name one
path on every row (manifest.py). Here each key's items are counted first (a
combine). A key of at most HOT_KEY_BOUND items is grouped whole, as a
GroupByKey gives it; the few keys above it ("hot") have their items spread
over pieces of about HOT_KEY_BOUND / 2 by a hash of each item, and each
piece comes with its key's count and a summary of all its items (a second
combine, over the hot keys' items only). What reaches one worker is one
group of at most HOT_KEY_BOUND items, or one piece, with two side inputs of
one entry per hot key: at most N / HOT_KEY_BOUND entries.
"""

import typing

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics

# Items of one key grouped whole at most. A hot key's pieces hold half of it
# on average (binomial counts around that, far below it).
HOT_KEY_BOUND = 10_000
_HASH_BITS = 64
_PIECES = "pieces"


class Piece(typing.NamedTuple):
    """Some of a hot key's items, with what is known of all of them."""

    count: int  # Items of the key in all its pieces.
    summary: object  # The summarize combine's result over all of them.
    items: list


class Smallest(beam.CombineFn):
    """The item with the smallest `key(item)` (a summary for GroupInPieces:
    which of a hot key's items comes first)."""

    def __init__(self, key):
        self._key = key

    def create_accumulator(self):
        return None

    def add_input(self, best, item):
        return item if best is None or self._key(item) < self._key(best) else best

    def merge_accumulators(self, accumulators):
        best = None
        for item in accumulators:
            if item is not None:
                best = self.add_input(best, item)
        return best

    def extract_output(self, best):
        return best


def pieces_of(count, bound):
    """How many pieces a hot key of `count` items is spread over."""
    return max(1, -(-2 * count // bound))


class _Route(beam.DoFn):
    """(key, item) -> itself, for a key grouped whole; ((key, piece), item)
    on PIECES for a hot key."""

    def __init__(self, piece_of, bound):
        self._piece_of = piece_of
        self._bound = bound

    def process(self, pair, hot):
        key, item = pair
        count = hot.get(key)
        if count is None:
            yield pair
        else:
            piece = self._piece_of(item) * pieces_of(count, self._bound) >> _HASH_BITS
            yield beam.pvalue.TaggedOutput(_PIECES, ((key, piece), item))


class _Sized(beam.DoFn):
    """Records each group's size in the stage's distribution (its max is the
    largest group), and passes it on."""

    def __init__(self, stage):
        self._stage = stage

    def setup(self):
        self._sizes = Metrics.distribution(metrics.METRICS_NAMESPACE, metrics.group_size_name(self._stage))

    def process(self, group):
        items = list(group[1])
        self._sizes.update(len(items))
        yield group[0], items


def _with_summary(grouped, counts, summaries):
    (key, _), items = grouped
    return key, Piece(counts[key], summaries[key], items)


class GroupInPieces(beam.PTransform):
    """(key, item) pairs -> {"whole": (key, [items]) for each key of at most
    `bound` items, "pieces": (key, Piece) for each piece of a hot key}; every
    item is in exactly one. `summarize`: a CombineFn over one key's items
    (only hot keys' are summarized); `piece_of(item)`: a 64-bit hash of an
    item, which spreads a hot key's items over its pieces (the same item,
    the same piece, on every runner); `stage`: names the group-size
    distribution among the job's metrics; `item_type`: the items' type,
    whose registered coder then carries them. Keys are encoded
    deterministically (strings, numbers, tuples of them)."""

    def __init__(self, summarize, piece_of, stage, *, item_type=typing.Any, bound=None):
        super().__init__()
        self._summarize = summarize
        self._piece_of = piece_of
        self._stage = stage
        self._item_type = item_type  # Its registered coder crosses the shuffle.
        self._bound = bound or HOT_KEY_BOUND  # Read when built: tests make it small.

    def expand(self, pairs):
        bound = self._bound
        counts = pairs | "Count" >> beam.combiners.Count.PerKey()
        hot = counts | "Hot" >> beam.Filter(lambda key_count: key_count[1] > bound)
        pair_type = typing.Tuple[typing.Any, self._item_type]
        routed = pairs | "Route" >> beam.ParDo(_Route(self._piece_of, bound), beam.pvalue.AsDict(hot)).with_outputs(
            _PIECES, main="whole"
        )
        whole = (
            routed.whole
            | "Typed" >> beam.Map(lambda pair: pair).with_output_types(pair_type)  # Beam types main outputs only.
            | "GroupWhole" >> beam.GroupByKey()
            | "SizeWhole" >> beam.ParDo(_Sized(self._stage))
        )
        hot_items = routed[_PIECES] | "TypedHot" >> beam.Map(lambda pair: pair).with_output_types(pair_type)
        summaries = (
            hot_items
            | "HotItems" >> beam.Map(lambda routed_pair: (routed_pair[0][0], routed_pair[1]))
            | "Summarize" >> beam.CombinePerKey(self._summarize)
        )
        pieces = (
            hot_items
            | "GroupPieces" >> beam.GroupByKey()
            | "SizePieces" >> beam.ParDo(_Sized(self._stage))
            | "WithSummary" >> beam.Map(_with_summary, beam.pvalue.AsDict(hot), beam.pvalue.AsDict(summaries))
        )
        return {"whole": whole, "pieces": pieces}
