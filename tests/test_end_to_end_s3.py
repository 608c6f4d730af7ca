"""hymenoptera from the local S3 server to shards on S3, through the real
console script in a subprocess, read back with TensorFlow."""

import collections
import json
import os
import subprocess
import sys

from tests.conftest import ACCESS_KEY
from tests.conftest import HYMENOPTERA
from tests.conftest import SECRET_KEY
from tests.conftest import download_prefix
from tests.conftest import needs_hymenoptera
from tests.conftest import upload_tree
from tests.records import read_errors
from tests.records import read_examples
from tests.records import read_labels
from tests.records import shard_paths


@needs_hymenoptera
def test_hymenoptera_s3_to_s3_four_shards(s3_client, bucket, s3_flags, tmp_path):
    uploaded = upload_tree(s3_client, HYMENOPTERA, bucket, "photos")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "--input",
            f"s3://{bucket}/photos",
            "--output",
            f"s3://{bucket}/shards",
            "--num_shards",
            "4",
            "--image_size",
            "128",
            "--log_level",
            "INFO",
            *s3_flags,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    names = download_prefix(s3_client, bucket, "shards", str(tmp_path))
    assert names == ["dataset_info.json", "errors.jsonl", "labels.txt"] + [
        f"train-{i:05d}-of-00004.tfrecord" for i in range(4)
    ]
    assert read_labels(tmp_path) == ["ants", "bees"]

    # The tree, counted here rather than by the code under test: 398 photos
    # (one of them a GIF placeholder), every one of which decodes.
    source_files = set()
    for folder, _, files in os.walk(HYMENOPTERA):
        source_files.update(
            os.path.relpath(os.path.join(folder, name), HYMENOPTERA).replace(os.sep, "/") for name in files
        )
    expected = collections.Counter(name.split("/")[0] for name in source_files)
    assert expected == {"ants": 194, "bees": 204} and uploaded == 398

    records = read_examples(shard_paths(tmp_path))
    errors = read_errors(tmp_path)
    written = {r["image/filename"].decode() for r in records}
    failed = {e["path"].split("/photos/", 1)[1] for e in errors}
    assert failed == set(), errors[:5]  # A run failing some photos must not pass.
    assert written == source_files and len(records) == 398  # Each written exactly once.
    assert collections.Counter(r["image/class/text"].decode() for r in records) == expected
    for record in records:
        label = record["image/class/text"].decode()
        assert record["image/class/label"] == ["ants", "bees"].index(label)
        assert record["image/filename"].decode().startswith(label + "/")
        assert min(record["pixels"].shape[:2]) <= 128
    # One S3 connection per fetch thread and per shard upload: none dropped.
    assert "Connection pool is full" not in result.stderr

    assert "matched 398 = written 398 + failed 0 + skipped (not images) 0" in result.stdout
    with open(tmp_path / "dataset_info.json", encoding="utf-8") as f:
        assert json.load(f)["counts"] == {"matched": 398, "written": 398, "failed": 0, "skipped": 0}
    for output in (result.stdout, result.stderr, *(open(tmp_path / n, "rb").read().decode("latin-1") for n in names)):
        assert SECRET_KEY not in output and ACCESS_KEY not in output
