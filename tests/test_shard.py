import pytest

from transforms.shard import AUTO
from transforms.shard import fixed_shard_count
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


def test_shard_multiple_rounds_every_count_up_but_never_past_the_records():
    assert shards_for_split("train", 100, {None: 10}, multiple=4) == 12
    assert shards_for_split("train", 100, {None: 12}, multiple=4) == 12  # A multiple already.
    assert shards_for_split("train", 100, {None: 0}, multiple=3) == 6  # The default 4, rounded up.
    assert shards_for_split("train", 1000, {None: 1}, shard_size_bytes=10_000, record_bytes=100, multiple=8) == 16
    assert shards_for_split("test", 5, {None: 4}, multiple=8) == 5  # No empty shards.
    assert fixed_shard_count({None: 10}, "train", 4) == 12  # --writer beam's too.
    assert fixed_shard_count({None: AUTO}, "train", 3) == 6


def test_left_out_num_shards_is_four_or_more_for_a_big_split():
    assert parse_num_shards(None) == {None: 0}
    assert shards_for_split("train", 100, {None: 0}) == 4
    assert shards_for_split("train", 160_000, {None: 0}) == 4  # 40,000 images a shard.
    assert shards_for_split("train", 160_001, {None: 0}) == 5
    assert shards_for_split("train", 100_000_000, {None: 0}) == 2500


def test_no_shard_may_hold_more_than_one_worker_writes():
    assert shards_for_split("train", 250_000, {None: 1}) == 1
    with pytest.raises(
        ValueError, match=r"the train split's 500,001 images in 2 shards would be 250,001 images a shard"
    ):
        shards_for_split("train", 500_001, {"train": 2})
    with pytest.raises(ValueError, match=r"--num_shards validation=3\b"):
        shards_for_split("validation", 625_000, {None: 1})
    with pytest.raises(ValueError, match="over the 250,000"):  # However the count was asked for.
        shards_for_split("train", 3_000_000, {None: 1}, shard_size_bytes=10**12, record_bytes=100)
