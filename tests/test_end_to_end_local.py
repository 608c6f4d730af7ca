"""Local folder to local shards, through the CLI, read back with TensorFlow."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from pipeline import main
from tests.records import mean_color
from tests.records import photo_pixels
from tests.records import read_errors
from tests.records import read_examples
from tests.records import read_labels
from tests.records import save_image
from tests.records import shard_paths

COLORS = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """3 classes of solid-color images (JPEG and PNG, several sizes), plus junk."""
    root = tmp_path_factory.mktemp("tree")
    for label, color in COLORS.items():
        for n, size in enumerate([(300, 200), (120, 400), (64, 64), (500, 500)]):
            ext, fmt = ("png", "PNG") if n % 2 else ("jpg", "JPEG")
            save_image(str(root / label / f"{label}_{n}.{ext}"), size=size, color=color, fmt=fmt)
    (root / "green" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "blue" / "empty.png").write_bytes(b"")
    save_image(str(root / "stray.jpg"))
    (root / "red" / "notes.txt").write_text("not an image")
    return str(root)


def _run(tree, out, *flags):
    assert main(["--input", tree, "--output", str(out), *flags]) == 0


def test_every_image_is_written_or_an_error_row(tree, tmp_path, capsys):
    _run(tree, tmp_path, "--num_shards", "3", "--image_size", "100")
    assert len(shard_paths(tmp_path)) == 3
    assert read_labels(tmp_path) == ["blue", "green", "red"]
    records = read_examples(shard_paths(tmp_path))
    assert len(records) == 12
    for record in records:
        label = record["image/class/text"].decode()
        assert record["image/class/label"] == ["blue", "green", "red"].index(label)
        assert record["image/filename"].decode().startswith(label + "/")
        assert max(abs(a - b) for a, b in zip(mean_color(record["pixels"]), COLORS[label])) < 6
        height, width = record["pixels"].shape[:2]
        assert (height, width) == (record["image/height"], record["image/width"])
        assert min(height, width) == min(100, min(height, width))  # shorter side, no upscale
    sizes = {(r["image/filename"].decode().split("_")[-1], r["image/width"], r["image/height"]) for r in records}
    assert {("0.jpg", 150, 100), ("1.png", 100, 333), ("2.jpg", 64, 64), ("3.png", 100, 100)} == sizes
    errors = {(os.path.relpath(e["path"], tree), e["stage"], e["reason"]) for e in read_errors(tmp_path)}
    assert errors == {
        ("green/broken.jpg", "decode", "decode_error"),
        ("blue/empty.png", "decode", "empty_file"),
        ("stray.jpg", "label", "no_label"),
    }
    assert "matched 16 = written 12 + failed 3 + skipped (not images, or hidden) 1" in capsys.readouterr().out


def test_labels_file_fixes_ids_and_rejects_other_classes(tree, tmp_path):
    labels = tmp_path / "labels.in.txt"
    labels.write_text("red\ngreen\n")
    out = tmp_path / "out"
    _run(tree, out, "--labels_file", str(labels), "--num_shards", "1")
    assert read_labels(out) == ["red", "green"]
    records = read_examples(shard_paths(out))
    assert {(r["image/class/text"], r["image/class/label"]) for r in records} == {(b"red", 0), (b"green", 1)}
    unknown = [e for e in read_errors(out) if e["reason"] == "unknown_label"]
    assert sorted(os.path.basename(e["path"]) for e in unknown) == sorted(
        ["blue_0.jpg", "blue_1.png", "blue_2.jpg", "blue_3.png", "empty.png"]
    )


def test_simple_schema_png_grayscale_center_crop(tree, tmp_path):
    _run(
        tree,
        tmp_path,
        "--schema",
        "simple",
        "--image_format",
        "png",
        "--color",
        "grayscale",
        "--resize_mode",
        "center_crop",
        "--image_size",
        "50",
        "--num_shards",
        "2",
    )
    records = read_examples(shard_paths(tmp_path))
    assert len(records) == 12
    for record in records:
        assert set(record) == {"image", "label", "pixels"}
        assert record["image"].startswith(b"\x89PNG")
        assert record["pixels"].shape in ((50, 50, 1),)


def test_keep_original_stores_source_bytes(tmp_path):
    source = save_image(str(tmp_path / "in" / "a" / "small.jpg"), size=(40, 30))
    out = tmp_path / "out"
    _run(str(tmp_path / "in"), out, "--keep_original", "--num_shards", "1")
    (record,) = read_examples(shard_paths(out))
    with open(source, "rb") as f:
        assert record["image/encoded"] == f.read()


def test_resize_filter_is_applied_and_recorded(tmp_path):
    source = Image.fromarray(photo_pixels((400, 300), seed=3))
    os.makedirs(tmp_path / "in" / "a")
    source.save(tmp_path / "in" / "a" / "photo.png")
    out = tmp_path / "out"
    _run(str(tmp_path / "in"), out, "--resize_filter", "area", "--image_format", "png", "--image_size", "60")
    with open(out / "dataset_info.json", encoding="utf-8") as f:
        assert json.load(f)["image"]["resize_filter"] == "area"
    (record,) = read_examples(shard_paths(out))
    expected = np.asarray(source.resize((80, 60), Image.Resampling.BOX, reducing_gap=3.0))
    assert np.array_equal(record["pixels"], expected)
