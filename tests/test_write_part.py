"""One dataset from several machines (transforms/parts.py): each run with
--write_part K/N writes its part of the shards; with every part's files in
one folder, the same command without it finishes the dataset. Each run is a
process of its own, as the machines' are; the finished dataset must be the
one a single run makes, byte for byte, with copies found across parts."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import assert_progress_grows_to
from tests.conftest import assert_same_files
from tests.records import save_image
from transforms.resume import DONE_PREFIX

# Eight shards per split over two parts, four each.
_FLAGS = ["--num_shards", "8", "--validation_ratio", "0.25", "--seed", "7"]
_COPIES = ("cats/copy-a.png", "dogs/copy-b.png", "birds/copy-c.png", "cats/copy-d.png")


def _tree(root):
    """48 distinct small PNGs in three classes, and one picture under four
    names in three classes (a duplicate group)."""
    for n in range(48):
        label = ("cats", "dogs", "birds")[n % 3]
        save_image(str(root / label / f"{n:02d}.png"), size=(24 + n, 20), color=(n * 5, 90, 200 - n), fmt="PNG")
    first = save_image(str(root / _COPIES[0]), size=(33, 31), color=(1, 2, 3), fmt="PNG")
    for name in _COPIES[1:]:
        os.makedirs(os.path.dirname(root / name), exist_ok=True)
        shutil.copyfile(first, root / name)


def _convert(*args):
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=300, env=os.environ
    )


def _shards(folder):
    return {name for name in os.listdir(folder) if name.endswith(".tfrecord")}


def _paths_in_records(folder):
    """The relative paths whose records a part's resume records hold."""
    paths = set()
    for name in os.listdir(folder):
        if name.startswith(DONE_PREFIX):
            with open(folder / name) as f:
                paths.update(row[4] for row in json.load(f)["hashes"])
    return paths


@pytest.mark.parametrize("dedupe", [[], ["--dedupe"]], ids=["copies-kept", "dedupe"])
def test_parts_then_a_finishing_run_give_the_single_run_s_dataset(dedupe, tmp_path):
    """With --dedupe every part hashes every file and places by content, as
    the single run does: the same dataset, one copy of the picture kept."""
    images = tmp_path / "images"
    _tree(images)
    flags = [*_FLAGS, *dedupe]
    single = _convert("--input", str(images), "--output", str(tmp_path / "single"), *flags)
    assert single.returncode == 0, single.stderr[-3000:]

    parts = [tmp_path / "part1", tmp_path / "part2"]
    for number, out in enumerate(parts, 1):
        run = _convert("--input", str(images), "--output", str(out), "--write_part", f"{number}/2", *flags)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.startswith(f"part {number}/2 wrote 8 shards, "), run.stdout
        assert "dataset_info.json" not in os.listdir(out)
    # Each shard in exactly one part; together, every shard of the single run.
    assert not _shards(parts[0]) & _shards(parts[1])
    assert _shards(parts[0]) | _shards(parts[1]) == _shards(tmp_path / "single")
    # The duplicate group's copies went to both parts: the finishing run must
    # find a group whose copies no part saw together.
    in_parts = [set(_COPIES) & _paths_in_records(out) for out in parts]
    if dedupe:
        assert len(in_parts[0] | in_parts[1]) == 1, in_parts
    else:
        assert in_parts[0] and in_parts[1], in_parts

    merged = tmp_path / "merged"
    for out in parts:  # As SageMaker uploads every instance's folder into one prefix.
        shutil.copytree(out, merged, dirs_exist_ok=True)
    finished = _convert("--input", str(images), "--output", str(merged), *flags)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "all kept from an earlier run, none converted" in finished.stdout, finished.stdout
    assert_progress_grows_to(finished.stderr, 52)  # The kept shards' images count as done.
    assert_same_files(tmp_path / "single", merged)  # Every file; no part's record or marker left.
    with open(merged / "duplicates.jsonl") as f:
        groups = [json.loads(line) for line in f]
    assert {copy["path"] for group in groups for copy in group["copies"]} >= set(_COPIES), groups

    inspected = _convert("inspect", str(merged))
    assert inspected.returncode == 0, inspected.stderr[-3000:]

    # A part that never arrived costs time, not images: the finishing run
    # converts its shards itself.
    partial = tmp_path / "partial"
    shutil.copytree(parts[0], partial)
    finished = _convert("--input", str(images), "--output", str(partial), *flags)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "resumed: 8 shards" in finished.stdout and "the rest were converted" in finished.stdout, finished.stdout
    assert_same_files(tmp_path / "single", partial)


def test_a_part_refuses_what_cannot_leave_shards_out(tmp_path):
    for flags, message in (
        (["--write_part", "3/2"], "--write_part: K/N needs N of at least 2 and K from 1 to N"),
        (["--write_part", "1"], "--write_part: expected K/N"),
        (["--write_part", "1/2", "--writer", "beam"], "--write_part needs the default writer"),
        (["--write_part", "1/2", "--plan"], "--plan shows the whole run's plan: drop --write_part"),
        (["--write_part", "1/2", "--overwrite"], "--write_part adds to an unfinished dataset: give a fresh --output"),
        (["--write_part", ""], "--write_part: expected K/N"),  # An unset variable: not a whole run.
        (["--write_part", "1/2", "--shard_size_mb", "100"], "give --num_shards, not --shard_size_mb"),
        (
            ["--write_part", "1/2", "--runner", "FlinkRunner", "--flink_master", "localhost:1"],
            "--write_part shares a run between machines that have no cluster",
        ),
    ):
        run = _convert("--input", str(tmp_path), "--output", str(tmp_path / "out"), *flags)
        assert run.returncode == 2 and message in run.stderr, (flags, run.stderr)
        assert not (tmp_path / "out").exists()


def test_a_finishing_run_with_a_manifest_edited_in_place_writes_its_labels(tmp_path):
    """A part's shard whose images' labels the finishing run's manifest
    changed is converted again (the resume key holds each image's label),
    not kept with the old ones: the dataset is a single run's with the
    edited manifest."""
    images = tmp_path / "images"
    _tree(images)
    names = sorted(str(path.relative_to(images)) for path in images.rglob("*.png"))
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label\n" + "".join(f"{name},{name.split('/')[0]}\n" for name in names))
    # One shard: whatever the labels, it holds the same paths, so only the
    # labels in its key tell the edited manifest's shard from the part's.
    flags = ["--manifest", str(manifest), "--input", str(images), "--num_shards", "1"]
    part = _convert("--output", str(tmp_path / "merged"), "--write_part", "1/2", *flags)
    assert part.returncode == 0, part.stderr[-3000:]
    # Two images change class; the set of classes does not.
    edited = {"cats/00.png": "dogs", "dogs/01.png": "birds"}
    rows = "".join(f"{name},{edited.get(name, name.split('/')[0])}\n" for name in names)
    manifest.write_text("path,label\n" + rows)
    finished = _convert("--output", str(tmp_path / "merged"), *flags)
    assert finished.returncode == 0, finished.stderr[-3000:]
    single = _convert("--output", str(tmp_path / "single"), *flags)
    assert single.returncode == 0, single.stderr[-3000:]
    assert_same_files(tmp_path / "single", tmp_path / "merged")


def test_a_finishing_run_that_cannot_use_the_parts_says_so(tmp_path):
    """Parts made with other flags: their shards are converted again, and the
    summary says how many it could not resume; a part into a finished
    dataset is told to take a fresh folder, not --overwrite (which parts refuse)."""
    images = tmp_path / "images"
    _tree(images)
    out = tmp_path / "out"
    part = _convert("--input", str(images), "--output", str(out), "--write_part", "1/2", *_FLAGS)
    assert part.returncode == 0, part.stderr[-3000:]
    recorded = len([name for name in os.listdir(out) if name.startswith(DONE_PREFIX)])
    finished = _convert("--input", str(images), "--output", str(out), "--num_shards", "3", "--seed", "7")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"  not resumed: {recorded} shards an earlier run or part left in --output" in finished.stdout
    late = _convert("--input", str(images), "--output", str(out), "--write_part", "2/2", *_FLAGS)
    assert late.returncode == 2
    assert "already holds a dataset" in late.stderr and "give a part a fresh --output" in late.stderr, late.stderr
