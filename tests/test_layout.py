from transforms.layout import is_dataset_file
from transforms.layout import parse_shard_name
from transforms.layout import shard_name


def test_shard_names_round_trip():
    assert shard_name("train", 3, 16) == "train-00003-of-00016.tfrecord"
    assert parse_shard_name("validation-00001-of-00002.tfrecord") == ("validation", 1, 2)
    assert parse_shard_name("train-1-of-2.tfrecord") is None
    assert parse_shard_name("notes.txt") is None


def test_dataset_files_are_only_ours():
    for name in ("labels.txt", "errors.jsonl", "dataset_info.json", "test-00000-of-00001.tfrecord",
                 ".train-00000-of-00001.tfrecord.inprogress-" + "0" * 32):
        assert is_dataset_file(name), name
    for name in ("notes.md", "train.tfrecord", "labels.txt.bak", ".hidden"):
        assert not is_dataset_file(name), name
