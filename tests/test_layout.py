from transforms.layout import ShardInfo
from transforms.layout import is_dataset_file
from transforms.layout import parse_shard_name
from transforms.layout import shard_name


def test_shard_names_round_trip():
    assert shard_name("train", 3, 16, ".tfrecord") == "train-00003-of-00016.tfrecord"
    assert shard_name("train", 3, 16, ".rec") == "train-00003-of-00016.rec"
    assert parse_shard_name("validation-00001-of-00002.tfrecord") == ("validation", 1, 2)
    for suffix in (".rec", ".idx", ".lst"):
        assert parse_shard_name(f"test-00000-of-00003{suffix}") == ("test", 0, 3)
    assert parse_shard_name("train-1-of-2.tfrecord") is None
    assert parse_shard_name("train-00000-of-00001.recordio") is None
    assert parse_shard_name("notes.txt") is None


def test_dataset_files_are_only_ours():
    for name in (
        "labels.txt",
        "errors.jsonl",
        "duplicates.jsonl",
        "dataset_info.json",
        "test-00000-of-00001.tfrecord",
        ".train-00000-of-00001.tfrecord.inprogress-" + "0" * 32,
        "train-00000-of-00002.rec",
        "train-00000-of-00002.idx",
        "train-00000-of-00002.lst",
        ".train-00000-of-00002.idx.inprogress-" + "f" * 32,
    ):
        assert is_dataset_file(name), name
    for name in (
        "notes.md",
        "train.tfrecord",
        "labels.txt.bak",
        ".hidden",
        "train.rec",
        "data.lst",
        "train-00000-of-00002.rec.bak",
    ):
        assert not is_dataset_file(name), name


def test_a_shards_files_include_its_side_files():
    shard = {"split": "train", "index": 0, "num_shards": 1, "num_examples": 3, "num_bytes": 90, "sha256": "ab"}
    tfrecord = ShardInfo(file="train-00000-of-00001.tfrecord", **shard)
    assert tfrecord.files() == ["train-00000-of-00001.tfrecord"]
    rec = ShardInfo(
        file="train-00000-of-00001.rec",
        per_class={"a": 3},
        side_files={"index_file": "train-00000-of-00001.idx", "list_file": "train-00000-of-00001.lst"},
        **shard,
    )
    assert rec.files() == ["train-00000-of-00001.rec", "train-00000-of-00001.idx", "train-00000-of-00001.lst"]
