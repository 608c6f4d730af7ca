"""--plan: the shard plan and counts of a run, printed, with nothing written;
and the plan is what the run then does."""

import json
import os

import pytest

from pipeline import main
from tests.records import save_image


def _tree(root):
    for label in ("a", "b"):
        for n in range(10):
            save_image(str(root / label / f"{n}.png"), size=(40, 30), color=(20 * n, 90, 160), fmt="PNG")
    (root / "a" / "notes.txt").write_text("not an image")  # Skipped by its extension.
    return str(root)


def test_plan_prints_what_the_run_will_do_and_writes_nothing(tmp_path, capsys):
    tree, out = _tree(tmp_path / "in"), str(tmp_path / "out")
    flags = ["--input", tree, "--output", out, "--num_shards", "3", "--validation_ratio", "0.2"]
    assert main([*flags, "--plan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 10 images a class, 2 of them to validation; shards dealt round-robin by
    # rank, class after class: train a -> 3,3,2 and b (from shard 2) -> 3,2,3.
    assert lines[1:6] == [
        "  matched 21 = to convert 20 + rejected before decoding 0 + skipped (not images, or hidden) 1",
        "  classes: 2 (a, b)",
        "  skipped: .txt 1 (not read: hidden, or not named .jpg .jpeg .png .gif .bmp .webp .tif .tiff; "
        "a --manifest may name any file)",
        "  train: 16 images (a 8, b 8) in 3 shards of 6, 5, 5 images",
        "  validation: 4 images (a 2, b 2) in 3 shards of 2, 1, 1 images",
    ]
    assert lines[6].startswith("  estimated output: ")
    assert not os.path.exists(out)

    assert main(flags) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    assert [s["num_examples"] for s in info["splits"]["train"]["shards"]] == [6, 5, 5]
    assert [s["num_examples"] for s in info["splits"]["validation"]["shards"]] == [2, 1, 1]


def test_a_plan_runs_on_the_runner_named_which_must_answer(tmp_path, capsys):
    """--plan runs where the run would (tests/test_clusters.py runs one on
    Flink): a master that does not answer is refused as for a run."""
    tree = _tree(tmp_path / "in")
    flags = ["--input", tree, "--output", str(tmp_path / "out"), "--plan"]
    assert main([*flags, "--runner", "FlinkRunner", "--flink_master", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--flink_master 127.0.0.1:9: no Flink REST API answers there" in err[0], err
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("flag", [["--dry_run", "true"], ["--dry_run"], ["--dry_run=1"], ["--dry-run"], ["--dryrun"]])
def test_beams_dry_run_flag_is_refused_with_the_plan_hint(tmp_path, capsys, flag):
    tree = _tree(tmp_path / "in")
    # Bare, as `upload --dry_run` is used, or with a value, as Beam takes it.
    assert main(["--input", tree, "--output", str(tmp_path / "out"), *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--plan shows what a run would write" in err[0], err


def test_a_plan_beside_a_dataset_plans_and_says_a_run_needs_overwrite(tmp_path, capsys):
    tree = _tree(tmp_path / "in")
    out = str(tmp_path / "out")
    assert main(["--input", tree, "--output", out, "--num_shards", "1"]) == 0
    before = {name: os.path.getmtime(os.path.join(out, name)) for name in os.listdir(out)}
    capsys.readouterr()
    assert main(["--input", tree, "--output", out, "--num_shards", "1", "--plan"]) == 0
    printed = capsys.readouterr().out
    assert "  classes: 2 (a, b)" in printed
    assert "note: a real run would stop here: --output" in printed and "pass --overwrite to replace it" in printed
    assert {name: os.path.getmtime(os.path.join(out, name)) for name in os.listdir(out)} == before
    # With --overwrite a real run would go ahead: no note.
    assert main(["--input", tree, "--output", out, "--num_shards", "1", "--plan", "--overwrite"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_a_plan_warns_as_the_run_would_and_says_when_it_cannot_estimate(tmp_path, capsys):
    tree = _tree(tmp_path / "in")
    os.rename(os.path.join(tree, "b"), os.path.join(tree, "A"))  # Classes a and A: one folder on macOS.
    for n in range(1, 10):  # One image of A: none of it goes to validation.
        os.remove(os.path.join(tree, "A", f"{n}.png"))
    flags = ["--input", tree, "--output", str(tmp_path / "out"), "--plan", "--validation_ratio", "0.05"]
    assert main([*flags, "--min_size", "1000"]) == 0
    printed = capsys.readouterr().out
    assert "warning: classes 'A' and 'a' differ only in case" in printed
    assert "warning: 1 class has images in one split only: A (train)" in printed
    assert "images that --min_size or --max_aspect_ratio reject are found only when converting" in printed
    assert "estimated output: unknown (no image of the sample converted" in printed
