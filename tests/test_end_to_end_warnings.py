"""Surprises the summary and dataset_info.json warn about."""

import json
import os

from pipeline.cli import main
from tests.records import save_image


def test_tiny_classes_warn_of_an_empty_split_and_thin_shards(tmp_path, capsys):
    for label in ("a", "b"):
        save_image(str(tmp_path / "in" / label / "1.png"), fmt="PNG")
    out = str(tmp_path / "out")
    assert main(["--input", str(tmp_path / "in"), "--output", out, "--validation_ratio", "0.1",
                 "--num_shards", "3"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    # One image a class: none goes to validation, and each class misses a shard.
    assert info["warnings"] == {
        "empty_splits": ["validation"],
        "classes_with_fewer_images_than_shards": {"count": 2, "first": [
            {"split": "train", "class": "a", "images": 1, "shards": 2},
            {"split": "train", "class": "b", "images": 1, "shards": 2}]},
    }
    summary = capsys.readouterr().out
    assert "warning: the validation split asked for got no images" in summary
    assert "warning: 2 classes have fewer images than their split has shards" in summary
    assert info["counts"] == {"matched": 2, "written": 2, "failed": 0, "skipped": 0}


def test_a_clean_dataset_has_no_warnings(tmp_path, capsys):
    for label in ("a", "b"):
        for n in range(4):
            save_image(str(tmp_path / "in" / label / f"{n}.png"), fmt="PNG")
    out = str(tmp_path / "out")
    assert main(["--input", str(tmp_path / "in"), "--output", out, "--num_shards", "2"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        assert "warnings" not in json.load(f)
    assert "warning" not in capsys.readouterr().out
