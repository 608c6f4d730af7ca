"""transforms/ranking.py: ranks given in ranges of the hash are the ranks of
one sorted group, for any hashes: ties (forced; random 64-bit hashes never
tie), empty and single-element groups and ranges, a group skewed into one
range; and no range holds more than the bound."""

import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.beam_util import local_pipeline
from transforms import ranking

_TOP = 1 << 64


def _key(item):
    """Items hold their hash as hex: a 64-bit number past 2**63 is no
    integer Beam's default coder takes (Placed carries its own: split.py)."""
    group, hash_hex, name = item
    return int(hash_hex, 16), name


def _expected(items):
    """(item, rank) as one sort of each whole group gives them."""
    by_group = {}
    for item in items:
        by_group.setdefault(item[0], []).append(item)
    return [(item, rank) for group in by_group.values() for rank, item in enumerate(sorted(group, key=_key))]


def _ranked(items, target):
    with local_pipeline() as p:
        ranked = p | beam.Create(items) | ranking.RankInGroups(lambda item: item[0], _key, "test", target=target)
        pairs = ranked["ranked"] | beam.Map(lambda r: (r.item, r.rank))
        assert_that(pairs, equal_to(_expected(items)))
        counts = ranked["counts"]
        expected_counts = {}
        for item in items:
            expected_counts[item[0]] = expected_counts.get(item[0], 0) + 1
        assert_that(counts, equal_to(list(expected_counts.items())), label="counts")


_hashes = st.one_of(
    st.integers(0, _TOP - 1),  # Anywhere.
    st.sampled_from([0, 1, _TOP // 3, _TOP // 2, _TOP - 1]),  # Ties, and range edges.
    st.integers(_TOP // 2, _TOP // 2 + 1000),  # A skewed cluster in one range.
)
_items = st.lists(
    st.tuples(st.sampled_from(["a", "b", ("s", "c")]), _hashes.map(lambda h: f"{h:016x}"), st.text(max_size=3)),
    max_size=60,
)


@settings(max_examples=30, deadline=None)
@given(items=_items, target=st.integers(1, 7))
def test_ranks_in_ranges_are_the_ranks_of_one_sort(items, target):
    _ranked(items, target)


def test_ranks_of_groups_spread_over_many_ranges():
    """A fixed case (no search, so a wrong offset fails in seconds): two
    groups of 40 over every part of the hash, with ties, in ranges of 3."""
    rng = random.Random(25)
    hashes = [rng.getrandbits(64) for _ in range(36)] + [0, _TOP - 1, _TOP // 2, _TOP // 2]
    items = [(group, f"{h:016x}", str(n)) for group in ("a", "b") for n, h in enumerate(hashes)]
    _ranked(items, 3)


def test_an_empty_input_ranks_nothing():
    _ranked([], 3)


def test_ranges_are_intervals_of_the_hash_in_order():
    for count in (1, 5, 10_000, 10_001, 1_234_567):
        pieces = ranking.ranges_in(count)
        assert pieces == max(1, -(-count // ranking.RANGE_TARGET))
        edges = [ranking.range_of(h, ranking.Span(count, 0, _TOP - 1)) for h in (0, _TOP // 2, _TOP - 1)]
        assert edges == sorted(edges) and edges[0] == 0 and edges[-1] == pieces - 1


@pytest.mark.parametrize(
    "count, low, high",
    [
        (20_000, 0, _TOP),
        (1_000_000, 0, _TOP),
        (3_000_001, 0, _TOP),
        (100_000, 0, _TOP // 10),  # A validation split: a class's smallest tenth of the hash.
        (900_000, _TOP // 10, _TOP),  # Its training split.
    ],
)
def test_no_range_of_random_hashes_passes_the_bound(count, low, high):
    """The counts a group's ranges get from random hashes (as blake2b's are)
    anywhere or in a part of the space, simulated: the largest stays within
    the bound, with room."""
    rng = random.Random(count)
    hashes = [rng.randrange(low, high) for _ in range(count)]
    span = ranking.Span(count, min(hashes), max(hashes))
    sizes = [0] * ranking.ranges_in(count)
    for hash_value in hashes:
        sizes[ranking.range_of(hash_value, span)] += 1
    assert max(sizes) < 0.6 * ranking.RANGE_BOUND, max(sizes)  # A mean of at most 10,000, sd about 100.
