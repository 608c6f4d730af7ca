"""The listing rule (transforms/listing.py) and what the converter makes of
it: every file `find -L` sees is written, failed or skipped, none dropped."""

import json
import os

from pipeline import main
from tests.records import read_errors
from tests.records import save_image
from transforms import listing


def _tree(tmp_path):
    """A class tree full of links: every kind the rule names."""
    root, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    save_image(str(root / "cats" / "a.png"), fmt="PNG")
    save_image(str(elsewhere / "more" / "b.png"), fmt="PNG")
    save_image(str(elsewhere / "dogs" / "c.png"), fmt="PNG")
    save_image(str(root / "cats" / ".hidden.png"), fmt="PNG")
    save_image(str(root / ".thumbs" / "x.png"), fmt="PNG")
    os.symlink(elsewhere / "more", root / "cats" / "more")  # A folder link below a class.
    os.symlink(elsewhere / "dogs", root / "dogs")  # A class folder that is a link.
    os.symlink(root, root / "cats" / "loop")  # Back up to the input: a loop.
    os.symlink(tmp_path / "nothing.png", root / "cats" / "gone.png")  # Dangling.
    return str(root)


def test_walk_follows_links_and_reports_loops_and_dangling_ones(tmp_path):
    root = _tree(tmp_path)
    assert [(os.path.relpath(path, root), kind) for path, kind in listing.walk(root)] == [
        (".thumbs/x.png", "file"),
        ("cats/.hidden.png", "file"),
        ("cats/a.png", "file"),
        ("cats/gone.png", "dangling_symlink"),
        ("cats/loop", "symlink_loop"),
        ("cats/more/b.png", "file"),
        ("dogs/c.png", "file"),
    ]
    assert listing.is_hidden(".thumbs/x.png") and listing.is_hidden("cats/.hidden.png")
    assert not listing.is_hidden("cats/a.png")


def test_every_file_is_written_failed_or_skipped(tmp_path, capsys):
    root, out = _tree(tmp_path), str(tmp_path / "out")
    assert main(["--input", root, "--output", out, "--num_shards", "1", "--label_from", "top"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    assert info["splits"]["train"]["per_class"] == {"cats": 2, "dogs": 1}  # a, more/b; c
    assert sorted((os.path.relpath(row["path"], root), row["reason"]) for row in read_errors(out)) == [
        ("cats/gone.png", "dangling_symlink"),
        ("cats/loop", "symlink_loop"),
    ]
    # 7 paths listed: 3 written, 2 failed, 2 hidden ones skipped.
    assert info["counts"] == {"matched": 7, "written": 3, "failed": 2, "skipped": 2}
    assert info["skipped"] == {"count": 2, "by_kind": {"hidden": 2}}  # .png files, but hidden.
    assert "  skipped: hidden 2 (not read: hidden, or not named" in capsys.readouterr().out


def test_an_input_of_linked_class_folders_is_not_empty(tmp_path):
    for label in ("cats", "dogs"):
        save_image(str(tmp_path / "real" / label / "1.png"), fmt="PNG")
        os.makedirs(tmp_path / "in", exist_ok=True)
        os.symlink(tmp_path / "real" / label, tmp_path / "in" / label)
    assert main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--num_shards", "1"]) == 0


def test_upload_lists_the_same_tree_the_same_way(tmp_path):
    from pipeline.upload import main as upload

    root = _tree(tmp_path)
    listed = dict(upload._local_files(root, False, [], []))
    assert listed == {
        ".thumbs/x.png": upload._HIDDEN,
        "cats/.hidden.png": upload._HIDDEN,
        "cats/a.png": None,
        "cats/more/b.png": None,
        "dogs/c.png": None,
        "cats/gone.png": listing.MESSAGES[listing.DANGLING_SYMLINK],
        "cats/loop": listing.MESSAGES[listing.SYMLINK_LOOP],
    }


def test_links_above_the_input_and_endless_chains_are_not_followed(tmp_path):
    root = tmp_path / "in"
    save_image(str(root / "cats" / "a.png"), fmt="PNG")
    save_image(str(tmp_path / "secret" / "b.png"), fmt="PNG")
    os.symlink("../..", root / "cats" / "up")  # Encloses the input: would walk all of tmp_path.
    os.symlink("/", root / "cats" / "slash")
    os.symlink("ping", root / "cats" / "pong")  # ping -> pong -> ping: ELOOP.
    os.symlink("pong", root / "cats" / "ping")
    os.symlink("nowhere", root / "cats" / ".#lock.png")  # An editor's lock file: hidden.
    assert [(os.path.relpath(path, root), kind) for path, kind in listing.walk(str(root))] == [
        ("cats/.#lock.png", "dangling_symlink"),
        ("cats/a.png", "file"),
        ("cats/ping", "symlink_loop"),
        ("cats/pong", "symlink_loop"),
        ("cats/slash", "symlink_loop"),
        ("cats/up", "symlink_loop"),
    ]
    out = str(tmp_path / "out")
    assert main(["--input", str(root), "--output", out, "--num_shards", "1"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        # The hidden lock file is skipped, not an error; secret/b.png is never read.
        assert json.load(f)["counts"] == {"matched": 6, "written": 1, "failed": 4, "skipped": 1}
