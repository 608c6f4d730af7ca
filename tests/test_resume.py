"""The resume key (transforms/resume.py): what changes a shard's bytes changes its key."""

import os

from transforms.resume import shard_key


def test_a_source_file_changed_since_gives_another_key(tmp_path):
    # Without this a rerun after an edit would keep the shard of the old pixels.
    path = tmp_path / "cats" / "1.png"
    path.parent.mkdir()
    path.write_bytes(b"old pixels")
    before = shard_key("settings", ["cats"], [str(path)])
    assert shard_key("settings", ["cats"], [str(path)]) == before
    path.write_bytes(b"new pixels")  # Same size: only the mtime tells.
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    changed_mtime = shard_key("settings", ["cats"], [str(path)])
    path.write_bytes(b"new pixels, longer")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    changed_size = shard_key("settings", ["cats"], [str(path)])
    assert len({before, changed_mtime, changed_size}) == 3
    path.unlink()
    assert shard_key("settings", ["cats"], [str(path)]) not in (before, changed_mtime, changed_size)


def test_settings_classes_and_paths_are_in_the_key():
    key = shard_key("settings", ["a", "b"], ["s3://bucket/in/a/1.jpg"])
    assert shard_key("settings", ["a", "b"], ["s3://bucket/in/a/1.jpg"]) == key
    assert shard_key("other settings", ["a", "b"], ["s3://bucket/in/a/1.jpg"]) != key
    assert shard_key("settings", ["b", "a"], ["s3://bucket/in/a/1.jpg"]) != key
    assert shard_key("settings", ["a", "b"], ["s3://bucket/in/a/2.jpg"]) != key
    # The order the paths come in is not part of it: the planned set is.
    assert shard_key("settings", ["a"], ["/x/1", "/x/2"]) == shard_key("settings", ["a"], ["/x/2", "/x/1"])
