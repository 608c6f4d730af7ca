"""The resume key (transforms/resume.py): what changes a shard's bytes changes its key."""

import os

from transforms.resume import shard_key
from transforms.shard_stream import ShardImage


def _images(*paths, label="cats", order=0):
    return [ShardImage(order, os.path.basename(path), str(path), label) for path in paths]


def test_a_source_file_changed_since_gives_another_key(tmp_path):
    # Without this a rerun after an edit would keep the shard of the old pixels.
    path = tmp_path / "cats" / "1.png"
    path.parent.mkdir()
    path.write_bytes(b"old pixels")
    before = shard_key("settings", ["cats"], _images(path))
    assert shard_key("settings", ["cats"], _images(path)) == before
    path.write_bytes(b"new pixels")  # Same size: only the mtime tells.
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    changed_mtime = shard_key("settings", ["cats"], _images(path))
    path.write_bytes(b"new pixels, longer")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    changed_size = shard_key("settings", ["cats"], _images(path))
    assert len({before, changed_mtime, changed_size}) == 3
    path.unlink()
    assert shard_key("settings", ["cats"], _images(path)) not in (before, changed_mtime, changed_size)


def test_settings_classes_and_paths_are_in_the_key():
    key = shard_key("settings", ["a", "b"], _images("s3://bucket/in/a/1.jpg"))
    assert shard_key("settings", ["a", "b"], _images("s3://bucket/in/a/1.jpg")) == key
    assert shard_key("other settings", ["a", "b"], _images("s3://bucket/in/a/1.jpg")) != key
    assert shard_key("settings", ["b", "a"], _images("s3://bucket/in/a/1.jpg")) != key
    assert shard_key("settings", ["a", "b"], _images("s3://bucket/in/a/2.jpg")) != key
    # The order the paths come in is not part of it: the planned set is.
    assert shard_key("settings", ["a"], _images("/x/1", "/x/2")) == shard_key(
        "settings", ["a"], _images("/x/2", "/x/1")
    )


def test_each_image_s_label_and_record_path_are_in_the_key():
    # A manifest edited in place names the same files with other labels: a
    # shard kept by path alone would keep the old labels without a word.
    key = shard_key("settings", ["a", "b"], _images("s3://bucket/in/1.jpg", label="a"))
    assert shard_key("settings", ["a", "b"], _images("s3://bucket/in/1.jpg", label="b")) != key
    moved = [ShardImage(0, "elsewhere/1.jpg", "s3://bucket/in/1.jpg", "a")]
    assert shard_key("settings", ["a", "b"], moved) != key
    assert shard_key("settings", ["a", "b"], _images("s3://bucket/in/1.jpg", label="a", order=1)) != key
