"""The one combine behind dataset_info.json's counts and warnings
(dataset_info._CombineOutcome): whatever way a runner splits its inputs into
accumulators and merges them, the totals are the same, and the warnings'
path lists stay bounded. Expected values are counted by hand below."""

import copy
import dataclasses
import itertools

from transforms import dataset_info
from transforms.dataset_info import _CLASS_COUNT
from transforms.dataset_info import _ERROR
from transforms.dataset_info import _SHARD
from transforms.dataset_info import _SKIPPED
from transforms.dataset_info import _CombineOutcome
from transforms.dataset_info import _Part
from transforms.layout import ShardInfo
from transforms.statistics import Statistics


def _statistics(level, images):
    """Statistics of `images` one-pixel gray images of `level` (8-bit)."""
    return _statistics_of([(level, images)])


def _shard(split, index, *, odd=None, smaller=(0, None), statistics=None):
    return ShardInfo(
        split=split,
        index=index,
        num_shards=3,
        file=f"{split}-{index}",
        num_examples=1,
        num_bytes=1,
        sha256="0",
        per_class={"cats": 1},
        smaller_than_requested=smaller[0],
        smallest_side=smaller[1],
        odd_content=odd,
        statistics=statistics,
    )


def _parts():
    many = [f"cats/{n:03d}.png" for n in range(150)]  # More than a warning names.
    return [
        _Part(_SHARD, _shard("train", 0, odd={"flat": many[100:]}, smaller=(2, 40), statistics=_statistics(10, 2))),
        _Part(_SHARD, _shard("train", 1, odd={"flat": many[:100], "noise": ["dogs/b.png"]}, smaller=(1, 30))),
        _Part(_SHARD, _shard("train", 2, statistics=_statistics(200, 1))),
        _Part(_SHARD, _shard("validation", 0, odd={"noise": ["dogs/a.png"]}, statistics=_statistics(50, 1))),
        _Part(_CLASS_COUNT, (("train", "cats"), 3)),
        _Part(_CLASS_COUNT, (("train", "cats"), 4)),
        _Part(_CLASS_COUNT, (("validation", "dogs"), 1)),
        _Part(_ERROR, "decode_error"),
        _Part(_ERROR, "decode_error"),
        _Part(_ERROR, "empty_file"),
        _Part(_SKIPPED, ".txt"),
        _Part(_SKIPPED, "hidden"),
        _Part(_SKIPPED, ".txt"),
    ]


def _expected(parts):
    # Each shard's entry without what comes combined (per_class comes as
    # class_counts), in (split, index) order.
    entries = [
        dataclasses.replace(p.value, per_class=None, odd_content=None, statistics=None)
        for p in parts
        if p.kind == _SHARD
    ]
    return {
        "shards": tuple(sorted(entries, key=lambda shard: (shard.split, shard.index))),
        "statistics": {"train": _statistics_of([(10, 2), (200, 1)]), "validation": _statistics(50, 1)},
        "odd": {
            "flat": {"count": 150, "first": [f"cats/{n:03d}.png" for n in range(dataset_info._WARNED_PATHS)]},
            "noise": {"count": 2, "first": ["dogs/a.png", "dogs/b.png"]},
        },
        "smaller": {"count": 3, "smallest_side": 30},
        "class_counts": {("train", "cats"): 7, ("validation", "dogs"): 1},
        "errors_by_reason": {"decode_error": 2, "empty_file": 1},
        "skipped": {"count": 3, "by_kind": {".txt": 2, "hidden": 1}},
    }


def _statistics_of(levels_and_images):
    statistics = Statistics()
    for level, images in levels_and_images:
        for _ in range(images):
            statistics.add_image([0] * level + [1] + [0] * (255 - level), (1, 1), (1, 1))
    return statistics.to_json()


def _combine(groups):
    combine = _CombineOutcome()
    accumulators = []
    for group in groups:
        accumulator = combine.create_accumulator()
        for part in group:
            accumulator = combine.add_input(accumulator, part)
        accumulators.append(accumulator)
    return combine.extract_output(combine.merge_accumulators(accumulators))


def test_any_split_into_accumulators_and_merge_order_gives_the_same_totals():
    parts = _parts()
    unchanged = copy.deepcopy(parts)
    expected = _expected(parts)
    assert _combine([parts]) == expected
    for cut in range(1, len(parts)):
        for order in itertools.permutations([parts[:cut], parts[cut:]]):
            assert _combine(order) == expected, cut
    # One accumulator per input, merged in a few orders.
    for shift in range(len(parts)):
        assert _combine([[part] for part in parts[shift:] + parts[:shift]]) == expected, shift
    assert parts == unchanged  # A combine must not change its inputs (the shards' entries go on).


def test_nothing_to_count_gives_empty_totals():
    assert _combine([[]]) == {
        "shards": (),
        "statistics": {},
        "odd": {},
        "smaller": None,
        "class_counts": {},
        "errors_by_reason": {},
        "skipped": None,
    }
