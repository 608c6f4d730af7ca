"""Surprises the summary and dataset_info.json warn about."""

import json
import os

import numpy as np
from PIL import Image

from pipeline import main
from tests.records import read_errors
from tests.records import read_examples
from tests.records import save_image
from tests.records import save_photo
from tests.records import shard_paths


def test_tiny_classes_warn_of_an_empty_split_and_thin_shards(tmp_path, capsys):
    for label in ("a", "b"):
        save_photo(str(tmp_path / "in" / label / "1.png"), fmt="PNG")
    out = str(tmp_path / "out")
    assert (
        main(
            [
                "--input",
                str(tmp_path / "in"),
                "--output",
                out,
                "--validation_ratio",
                "0.1",
                "--num_shards",
                "3",
                "--image_size",
                "32",
            ]
        )
        == 0
    )
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    # One image a class: none goes to validation, and each class misses a shard.
    assert info["warnings"] == {
        "empty_splits": ["validation"],
        "classes_with_fewer_images_than_shards": {
            "count": 2,
            "first": [
                {"split": "train", "class": "a", "images": 1, "shards": 2},
                {"split": "train", "class": "b", "images": 1, "shards": 2},
            ],
        },
    }
    summary = capsys.readouterr().out
    assert "warning: the validation split asked for got no images" in summary
    assert "warning: 2 classes have fewer images than their split has shards" in summary
    assert info["counts"] == {"matched": 2, "written": 2, "failed": 0, "skipped": 0}


def test_a_clean_dataset_has_no_warnings(tmp_path, capsys):
    for label in ("a", "b"):
        for n in range(4):
            save_photo(str(tmp_path / "in" / label / f"{n}.png"), seed=n)
    out = str(tmp_path / "out")
    assert main(["--input", str(tmp_path / "in"), "--output", out, "--num_shards", "2", "--image_size", "48"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        assert "warnings" not in json.load(f)
    assert "warning" not in capsys.readouterr().out


def _sizes_tree(root):
    # Shorter sides 20, 30, 60 and 100 px.
    for n, size in enumerate(((20, 40), (50, 30), (60, 90), (100, 100))):
        save_photo(str(root / "a" / f"{n}.png"), size=size, seed=n, fmt="PNG")
    return str(root)


def test_images_smaller_than_asked_are_counted(tmp_path, capsys):
    tree, out = _sizes_tree(tmp_path / "in"), str(tmp_path / "out")
    assert (
        main(
            [
                "--input",
                tree,
                "--output",
                out,
                "--num_shards",
                "1",
                "--image_size",
                "64",
                "--resize_mode",
                "center_crop",
            ]
        )
        == 0
    )
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    assert info["warnings"] == {"images_smaller_than_requested": {"count": 3, "smallest_side": 20}}
    assert (
        "warning: 3 images are stored smaller than --image_size asked (never upscaled; the smallest side is 20 px)"
    ) in capsys.readouterr().out


def test_min_size_makes_them_error_rows(tmp_path):
    tree, out = _sizes_tree(tmp_path / "in"), str(tmp_path / "out")
    assert main(["--input", tree, "--output", out, "--num_shards", "1", "--image_size", "64", "--min_size", "50"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    rows = sorted((os.path.basename(row["path"]), row["reason"], row["message"]) for row in read_errors(out))
    assert rows == [
        ("0.png", "too_small", "the shorter side is 20 px, below --min_size=50"),
        ("1.png", "too_small", "the shorter side is 30 px, below --min_size=50"),
    ]
    assert info["counts"]["written"] == 2 and info["image"]["min_size"] == 50
    # 60 px is still short of 64: counted, not rejected.
    assert info["warnings"] == {"images_smaller_than_requested": {"count": 1, "smallest_side": 60}}


def test_flat_and_noise_images_are_written_and_named_in_a_warning(tmp_path, capsys):
    tree = tmp_path / "in"
    for n in range(3):
        save_photo(str(tree / "cats" / f"photo{n}.png"), size=(80, 60), seed=n)
    save_image(str(tree / "cats" / "placeholder.png"), size=(80, 60), color=(128, 128, 128))
    noise = np.random.default_rng(5).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    os.makedirs(tree / "dogs")
    Image.fromarray(noise).save(tree / "dogs" / "static.png")
    save_photo(str(tree / "dogs" / "photo.png"), size=(80, 60), seed=9)
    out = str(tmp_path / "out")
    assert main(["--input", str(tree), "--output", out, "--num_shards", "1", "--image_size", "40"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    assert info["warnings"] == {
        "images_flat": {"count": 1, "first": ["cats/placeholder.png"]},
        "images_like_noise": {"count": 1, "first": ["dogs/static.png"]},
    }
    assert info["counts"] == {"matched": 6, "written": 6, "failed": 0, "skipped": 0}
    assert len(read_examples(shard_paths(out))) == 6  # Warned of, not rejected.
    summary = capsys.readouterr().out
    assert "warning: 1 image is one flat colour, written all the same: cats/placeholder.png" in summary
    assert "warning: 1 image looks like noise, written all the same: dogs/static.png" in summary


def _info(out):
    with open(os.path.join(out, "dataset_info.json")) as f:
        return json.load(f)


def test_an_elongated_image_is_named_and_max_aspect_ratio_rejects_it(tmp_path, capsys):
    tree = tmp_path / "in"
    save_photo(str(tree / "a" / "strip.png"), size=(1200, 40), seed=1, fmt="PNG")  # 30:1
    save_photo(str(tree / "a" / "tall.png"), size=(30, 330), seed=2, fmt="PNG")  # 11:1
    save_photo(str(tree / "a" / "panorama.png"), size=(400, 80), seed=3, fmt="PNG")  # 5:1
    out = str(tmp_path / "out")
    common = ["--input", str(tree), "--num_shards", "1", "--image_size", "32"]
    assert main([*common, "--output", out]) == 0
    info = _info(out)
    assert info["warnings"]["images_elongated"] == {"count": 2, "first": ["a/strip.png", "a/tall.png"]}
    stored = sorted((int(r["image/width"]), int(r["image/height"])) for r in read_examples(shard_paths(out)))
    assert stored == [(30, 330), (160, 32), (960, 32)]  # Never upscaled: a strip keeps its length.
    summary = capsys.readouterr().out
    assert (
        "warning: 2 images have a longer side more than 10 times their shorter (--max_aspect_ratio rejects such)"
        in (summary)
    )
    rejected = str(tmp_path / "rejected")
    assert main([*common, "--output", rejected, "--max_aspect_ratio", "10"]) == 0
    rows = sorted((os.path.basename(row["path"]), row["reason"], row["message"]) for row in read_errors(rejected))
    assert rows == [
        ("strip.png", "extreme_aspect_ratio", "1200x40 is 30:1, over --max_aspect_ratio=10"),
        ("tall.png", "extreme_aspect_ratio", "30x330 is 11:1, over --max_aspect_ratio=10"),
    ]
    info = _info(rejected)
    assert info["counts"] == {"matched": 3, "written": 1, "failed": 2, "skipped": 0}
    assert info["image"]["max_aspect_ratio"] == 10 and "images_elongated" not in info.get("warnings", {})


def test_classes_that_differ_only_in_case_are_named(tmp_path, capsys):
    tree = tmp_path / "in"
    for n, label in enumerate(("Dogs", "dogs", "cats")):
        save_photo(str(tree / label / "1.png"), seed=n, fmt="PNG")
    out = str(tmp_path / "out")
    assert main(["--input", str(tree), "--output", out, "--num_shards", "1", "--image_size", "32"]) == 0
    assert _info(out)["warnings"] == {"classes_differing_only_in_case": [["Dogs", "dogs"]]}
    assert "warning: classes 'Dogs' and 'dogs' differ only in case" in capsys.readouterr().out


def test_splits_from_folders_names_a_stray_image_and_a_class_of_one_split(tmp_path, capsys):
    tree = tmp_path / "in"
    for split in ("train", "validation"):
        for n, label in enumerate(("cats", "dogs")):
            save_photo(str(tree / split / label / f"{n}.png"), seed=n, fmt="PNG")
    save_photo(str(tree / "stray.png"), seed=7, fmt="PNG")  # Above <split>/<label>/.
    save_photo(str(tree / "train" / "cats" / "extra" / "x.png"), seed=8, fmt="PNG")  # Class "extra", train only.
    save_photo(str(tree / "hold out" / "cats" / "y.png"), seed=9, fmt="PNG")  # A split name no file can have.
    out = str(tmp_path / "out")
    flags = ["--input", str(tree), "--output", out, "--splits_from_folders", "--num_shards", "1", "--image_size", "32"]
    assert main(flags) == 0
    assert sorted((os.path.basename(r["path"]), r["stage"], r["reason"], r["message"]) for r in read_errors(out)) == [
        ("stray.png", "split", "no_split", "with --splits_from_folders, images go in <split>/<label>/ folders"),
        ("y.png", "split", "bad_split_name", "split folder 'hold out' is not a usable name (letters, digits, _ and -)"),
    ]
    assert _info(out)["warnings"] == {
        "classes_in_one_split": {"count": 1, "first": [{"class": "extra", "split": "train"}]}
    }
    assert "warning: 1 class has images in one split only: extra (train)" in capsys.readouterr().out
