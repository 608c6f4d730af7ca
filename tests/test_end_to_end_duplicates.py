"""The duplicate and leakage report, --dedupe, and the statistics, end to end
on a tree with planted copies: within a class, across classes and across
splits."""

import collections
import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from pipeline import main
from pipeline import read
from tests.records import read_errors
from tests.records import read_examples
from tests.records import save_photo
from tests.records import shard_paths

_FLAGS = ["--num_shards", "2", "--validation_ratio", "0.3", "--image_size", "20", "--seed", "1"]
# Planted copies, (copy, original) relative to the tree: the same bytes.
_COPIES = {
    "cat/c-copy.png": "cat/c03.png",  # within a class
    "dog/from-cat.png": "cat/c05.png",  # across classes: a labelling error
    "cat/c07-again.png": "cat/c07.png",  # a third copy of c07, below
    "cat/c07-third.png": "cat/c07.png",
    "dog/d02-b.png": "dog/d02.png",
}


def _tree(root):
    for i in range(12):
        save_photo(str(root / "cat" / f"c{i:02d}.png"), size=(24 + i, 22), seed=i, fmt="PNG")
        save_photo(str(root / "dog" / f"d{i:02d}.png"), size=(22, 24 + i), seed=100 + i, fmt="PNG")
    for copy, original in _COPIES.items():
        shutil.copyfile(root / original, root / copy)
    return str(root)


def _planted_groups():
    groups = collections.defaultdict(set)
    for copy, original in _COPIES.items():
        groups[original] |= {original, copy}
    return sorted(sorted(group) for group in groups.values())


def _info(out):
    with open(os.path.join(out, "dataset_info.json")) as f:
        return json.load(f)


def _duplicate_groups(out):
    with open(os.path.join(out, "duplicates.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _tree(tmp_path_factory.mktemp("copies") / "in")


@pytest.fixture(scope="module")
def reported(tree, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("reported") / "out")
    assert main(["--input", tree, "--output", out, *_FLAGS, "--statistics", "stored"]) == 0
    return out


def test_the_report_names_every_planted_duplicate(reported):
    groups = _duplicate_groups(reported)
    assert sorted(sorted(copy["path"] for copy in group["copies"]) for group in groups) == _planted_groups()
    assert {group["basis"] for group in groups} == {"file"}
    splits = {}
    for group in groups:  # The report's splits are the records' own.
        for copy in group["copies"]:
            splits[copy["path"]] = copy["split"]
    written = {}
    for split in ("train", "validation"):
        for record in read_examples(shard_paths(reported, split)):
            written[record["image/filename"].decode()] = split
    assert all(written[path] == split for path, split in splits.items())
    for group in groups:
        labels = [copy["label"] for copy in group["copies"]]
        assert ("across_classes" in group["kinds"]) == (len(set(labels)) > 1)
        assert ("across_splits" in group["kinds"]) == (len({copy["split"] for copy in group["copies"]}) > 1)
    info = _info(reported)["duplicates"]
    assert info["groups"] == 4 and info["images"] == 9 and info["removed"] == 0
    # Two groups leak across splits (so --dedupe below has leakage to remove).
    assert info["groups_by_kind"] == {"across_splits": 2, "across_classes": 1, "within_class": 3}
    # Every copy was written: nothing is dropped without --dedupe.
    assert _info(reported)["counts"]["written"] == 24 + len(_COPIES)


def test_the_summary_shows_them(tree, tmp_path, capsys):
    assert main(["--input", tree, "--output", str(tmp_path / "out"), *_FLAGS]) == 0
    out = capsys.readouterr().out
    assert "duplicates: 4 groups of identical images (9 images)" in out
    assert "dog/from-cat.png (" in out and "across classes" in out


def test_dedupe_writes_one_copy_and_leaves_nothing_across_splits(tree, tmp_path):
    out = str(tmp_path / "out")
    assert main(["--input", tree, "--output", out, "--dedupe", *_FLAGS]) == 0
    info = _info(out)
    assert info["counts"] == {"matched": 29, "written": 24, "failed": 5, "skipped": 0}
    duplicates = sorted(row["path"][len(tree) + 1 :] for row in read_errors(out) if row["reason"] == "duplicate")
    # The kept copy is the smallest path of each group.
    assert duplicates == sorted(path for group in _planted_groups() for path in group[1:])
    stored = collections.defaultdict(set)
    for split in ("train", "validation"):
        for record in read_examples(shard_paths(out, split)):
            stored[hashlib.sha256(record["image/encoded"]).hexdigest()].add(split)
    assert sum(len(splits) for splits in stored.values()) == 24  # Each stored image once, in one split.
    assert info["duplicates"]["removed"] == 5
    assert all(group.get("kept") for group in _duplicate_groups(out))


def test_statistics_match_numpy_over_the_stored_images(reported):
    info = read.load_info(reported)
    for split in ("train", "validation"):
        pixels = [image for image, _ in read.iter_examples(reported, split)]
        every = np.concatenate([image.reshape(-1, 3) for image in pixels]).astype(np.float64)
        statistics = info["splits"][split]["statistics"]
        np.testing.assert_allclose(statistics["mean"], every.mean(axis=0), rtol=0, atol=1e-6)
        np.testing.assert_allclose(statistics["std"], every.std(axis=0), rtol=0, atol=1e-6)
        np.testing.assert_allclose(statistics["mean_0_1"], (every / 255).mean(axis=0), rtol=0, atol=1e-6)
        np.testing.assert_allclose(statistics["std_0_1"], (every / 255).std(axis=0), rtol=0, atol=1e-6)
        assert statistics["images"] == len(pixels) == info["splits"][split]["num_examples"]
        assert statistics["pixels_counted"] == "stored"
        widths = collections.Counter(str(1 << (image.shape[1].bit_length() - 1)) for image in pixels)
        assert statistics["stored_sizes"]["width"] == dict(widths)
        mean, std = read.channel_stats(info, split, scale=1)
        assert (mean, std) == (statistics["mean_0_1"], statistics["std_0_1"])


def test_statistics_by_default_count_the_pixels_given_to_the_encoder(tree, reported, tmp_path):
    """The default's statistics are those of the same run stored as PNG (a
    lossless encoder stores exactly what it was given), and dataset_info.json
    says so; the stored JPEGs' own statistics are near them, not equal."""
    default, png = str(tmp_path / "default"), str(tmp_path / "png")
    assert main(["--input", tree, "--output", default, *_FLAGS]) == 0
    assert main(["--input", tree, "--output", png, *_FLAGS, "--image_format", "png"]) == 0
    for split in ("train", "validation"):
        counted = _info(default)["splits"][split]["statistics"]
        assert counted["pixels_counted"] == "before_encoding"
        lossless = _info(png)["splits"][split]["statistics"]
        assert {**counted, "pixels_counted": None} == {**lossless, "pixels_counted": None}
        stored = _info(reported)["splits"][split]["statistics"]
        assert counted["channels"] != stored["channels"]
        np.testing.assert_allclose(counted["mean"], stored["mean"], rtol=0, atol=2)


def test_tf_dataset_decodes_the_pixels_the_statistics_count(tmp_path):
    # JPEG records: TensorFlow's default IDCT differs from Pillow's; the reader asks for the accurate one.
    for i in range(6):
        save_photo(str(tmp_path / "in" / "x" / f"{i}.jpg"), size=(64, 48), seed=i)
    out = str(tmp_path / "out")
    args = ["--input", str(tmp_path / "in"), "--output", out, "--num_shards", "1", "--image_size", "40"]
    assert main([*args, "--statistics", "stored"]) == 0
    info = read.load_info(out)
    every = np.concatenate([image.numpy().reshape(-1, 3) for image, _ in read.tf_dataset(out, "train")])
    np.testing.assert_allclose(
        info["splits"]["train"]["statistics"]["mean"], every.astype(np.float64).mean(axis=0), rtol=0, atol=1e-6
    )
