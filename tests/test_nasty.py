"""The nasty corpus (635 broken and exotic real files) runs through: every
file is written or in errors.jsonl, every file Pillow decodes is written
(bar the few listed below), and the counts add up."""

import collections
import csv
import json
import os

from PIL import Image

from pipeline import main
from tests.conftest import NASTY
from tests.conftest import needs_nasty
from tests.records import read_errors
from tests.records import shard_paths
from transforms.skipped import has_image_extension

# The extensions the docs say are read (docs/inputs.md).
READ_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def _record_filenames(paths):
    """image/filename of every record, read with TensorFlow without decoding pixels."""
    import tensorflow as tf

    spec = {"image/filename": tf.io.FixedLenFeature([], tf.string)}
    return [
        tf.io.parse_single_example(raw, spec)["image/filename"].numpy().decode()
        for raw in tf.data.TFRecordDataset(paths)
    ]


# Files MANIFEST.csv marks decode=ok that are nonetheless error rows, each
# with its reason. The manifest was probed with Pillow 13.0.0, where these two
# fuzzed group4 TIFFs load; the Pillow installed here (12.3, libtiff 4.7)
# raises "decoder error -2" loading them itself, and Pillow's own
# Tests/test_tiff_crashes.py expects both to fail to load.
REJECTED_THOUGH_DECODABLE = {
    "pillow/crash-0da013a13571cc8eb457a39fee8db18f8a3c7127.tif": "decode_error",
    "pillow/crash-74d2a78403a5a59db1fb0a2b8735ac068a75f6e3.tif": "decode_error",
}


def _pillow_loads(path):
    try:
        with Image.open(path) as image:
            image.load()
    except Exception:
        return False
    return True


@needs_nasty
def test_nasty_corpus_is_fully_accounted_for(tmp_path, capsys):
    assert main(["--input", NASTY, "--output", str(tmp_path), "--num_shards", "2"]) == 0
    with open(os.path.join(NASTY, "MANIFEST.csv"), encoding="utf-8") as f:
        manifest = {row["path"]: row for row in csv.DictReader(f)}
    images = {p for p in manifest if has_image_extension(p)}

    written = _record_filenames(shard_paths(tmp_path))
    errors = {os.path.relpath(e["path"], NASTY): e for e in read_errors(tmp_path)}
    assert len(written) == len(set(written))
    # Files directly under nasty/ have no class folder; MANIFEST.csv itself is skipped.
    assert set(written) | set(errors) == images
    assert not set(written) & set(errors)
    for path, row in manifest.items():
        if path in images and row["decode"] == "error":
            assert path in errors, f"{path} fails in Pillow but was written"
    decodable = {path for path in images if manifest[path]["decode"] == "ok"}
    assert set(REJECTED_THOUGH_DECODABLE) <= decodable
    for path in sorted(decodable - set(REJECTED_THOUGH_DECODABLE)):
        assert path in written, f"{path} decodes in Pillow but was not written: {errors.get(path)}"
    for path, reason in REJECTED_THOUGH_DECODABLE.items():
        assert not _pillow_loads(os.path.join(NASTY, path)), f"Pillow loads {path} now: drop it from the list"
        assert errors[path]["reason"] == reason, errors.get(path)
    for error in errors.values():
        assert error["reason"] in ("decode_error", "too_large", "empty_file") and error["message"]
    bombs = {"fuzzdb/lottapixel.jpg", "sharp/giant-image.jpg", "pillow/decompression_bomb.gif"}
    assert all(errors[b]["reason"] == "too_large" for b in bombs)

    out = capsys.readouterr().out
    total_files = sum(len(files) for _, _, files in os.walk(NASTY))
    skipped = total_files - len(images)
    assert (
        f"matched {total_files} = written {len(written)} + failed {len(errors)} "
        f"+ skipped (not images, or hidden) {skipped}"
    ) in out
    # The skipped files by kind, counted from the corpus's own names (no hidden ones).
    kinds = collections.Counter(os.path.splitext(name)[1].lower() for _, _, files in os.walk(NASTY) for name in files)
    by_kind = {kind: n for kind, n in kinds.items() if kind not in READ_EXTENSIONS}
    assert sum(by_kind.values()) == skipped and by_kind[".avif"] == 17 and by_kind[".mpo"] == 6
    with open(os.path.join(tmp_path, "dataset_info.json"), encoding="utf-8") as f:
        assert json.load(f)["skipped"] == {"count": skipped, "by_kind": by_kind}
    most_first = sorted(by_kind.items(), key=lambda item: (-item[1], item[0]))
    assert "  skipped: " + ", ".join(f"{kind} {n}" for kind, n in most_first) + " (not read: " in out
