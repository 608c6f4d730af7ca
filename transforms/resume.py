"""Complete shards of an interrupted run, reused by the rerun.

As each shard is in place, the writer records what it holds beside it: a
hidden `.im2tfrecord-done-<shard>.json` with the shard's ShardInfo (size,
sha256, counts), its side files' sha256, its error rows, and a key. The key
is a hash of everything that decides the shard's bytes: the run's settings
(dataset_info.json's run description), the class names (label ids), the
images planned into the shard (each source path with a local file's size
and mtime, its label, the path its record names, its place in the shard),
and Pillow's version. A shard that met a failure another attempt might not
(a read error, a timeout) leaves no record. A rerun with the same options plans the same shards; for each
whose key matches a record and whose file still has the recorded size and
sha256 (read back in full: a shard is trusted only if its bytes are), the
writer reuses it instead of converting its images again. A rerun with other
options, or --overwrite, converts everything.

The records are removed when the dataset is complete (dataset_info.py), so a
finished dataset holds none.
"""

import dataclasses
import hashlib
import json
import os

import PIL

from transforms.layout import ShardInfo
from transforms.paths import has_scheme
from transforms.paths import join

DONE_PREFIX = ".im2tfrecord-done-"
_READ_CHUNK = 1 << 20


def is_done_record(name):
    return name.startswith(DONE_PREFIX) and name.endswith(".json")


def _record_path(output, shard_file):
    return join(output, f"{DONE_PREFIX}{shard_file}.json")


def shard_key(fingerprint, class_names, images):
    """The hash of what decides a shard's bytes: the settings, the class
    names, each image's source path with (for a local file) its size and
    mtime, its label (a manifest edited in place gives another), the path
    its record names and its place in the shard, and the decoder's version.
    `images` are rows with those fields (split.Placed, shard_stream.ShardImage)."""
    digest = hashlib.sha256(f"{fingerprint}\0Pillow {PIL.__version__}".encode("utf-8"))
    rows = sorted(
        f"{image.path}\0{_source_state(image.path)}\0{image.label}\0{image.relative_path}\0{image.order}"
        for image in images
    )
    for part in (*class_names, "\0", *rows):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _source_state(path):
    """A local file's size and mtime: a file replaced since is converted again.
    (S3 sources are keyed by path alone: the listing carries no ETag here.)"""
    if has_scheme(path):
        return ""
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


# Failures that another attempt may not meet: a shard that had one is not reused.
_TRANSIENT_REASONS = frozenset({"read_error", "too_slow"})


def record(storage, output, key, info, failures, side_file_hashes, hashes=()):
    """Notes a shard now in place. `failures` are (path, stage, reason,
    message); `side_file_hashes` maps each side file's name to its sha256;
    `hashes` are the records' duplicates.ImageHashes."""
    if any(failure[2] in _TRANSIENT_REASONS for failure in failures):
        return
    body = {
        "key": key,
        "info": dataclasses.asdict(info),
        "failures": [list(f) for f in failures],
        "side_files": side_file_hashes,
        "hashes": [list(row) for row in hashes],
    }
    # Atomic, as the shard is: a record under its name is whole, so a rerun
    # after a kill at any moment finds either nothing or all of it.
    with storage.open_atomic(_record_path(output, info.file)) as f:
        f.write(json.dumps(body, sort_keys=True).encode("utf-8"))


def reusable(storage, output, shard_file, key, names):
    """(ShardInfo, failures, hashes) of a shard an earlier attempt completed with the
    same key and whose bytes are still those it recorded; else None. `names`
    are the output's files now."""
    record_name = f"{DONE_PREFIX}{shard_file}.json"
    if record_name not in names:
        return None
    try:
        body = json.loads(storage.read(join(output, record_name)))
        if body["key"] != key:
            return None
        info = ShardInfo(**body["info"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    expected = {info.file: (info.num_bytes, info.sha256)}
    expected.update({name: (None, sha256) for name, sha256 in body.get("side_files", {}).items()})
    if set(info.files()) != set(expected) or not all(
        name in names and _has_bytes(storage, output, name, *want) for name, want in expected.items()
    ):
        return None
    return info, [tuple(failure) for failure in body["failures"]], body.get("hashes", [])


def completed(storage, output):
    """(ShardInfo, number of failures) of each shard recorded in `output`,
    unchecked: what a part of a run (parts.py) reports it wrote. A record
    that cannot be read (another version's, or gone since the listing) is
    left out: the finishing run converts its shard again."""
    for name in sorted(storage.list_folder(output)):
        if is_done_record(name):
            try:
                body = json.loads(storage.read(join(output, name)))
                yield ShardInfo(**body["info"]), len(body["failures"])
            except (OSError, ValueError, KeyError, TypeError):
                continue


def _has_bytes(storage, output, name, size, sha256):
    digest, seen = hashlib.sha256(), 0
    try:
        with storage.open_read(join(output, name)) as stream:
            for chunk in iter(lambda: stream.read(_READ_CHUNK), b""):
                digest.update(chunk)
                seen += len(chunk)
    except Exception:  # Whatever stops the read-back, the shard is converted again.
        return False
    return (size is None or seen == size) and digest.hexdigest() == sha256
