import pytest

from transforms.shard import parse_num_shards
from transforms.shard import shards_for_split


def test_parse_num_shards():
    assert parse_num_shards("8") == {None: 8}
    assert parse_num_shards("train=16, validation=2") == {"train": 16, "validation": 2}
    for bad in ("0", "x", "train=0", "train=", "-3"):
        with pytest.raises(ValueError):
            parse_num_shards(bad)


def test_shards_for_split():
    assert shards_for_split("train", 100, {None: 8}) == 8
    assert shards_for_split("test", 3, {None: 8}) == 3  # never more shards than records
    assert shards_for_split("test", 0, {None: 8}) == 1
    assert shards_for_split("validation", 50, {"train": 4, "validation": 2}) == 2
    assert shards_for_split("train", 1000, {None: 1}, shard_size_bytes=10_000, record_bytes=100) == 10
    with pytest.raises(ValueError, match="no shard count for split 'test'"):
        shards_for_split("test", 10, {"train": 4})
