"""hymenoptera from the local S3 server to shards on S3, through the real
console script in a subprocess, read back with TensorFlow."""

import collections
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
from transforms.match import has_image_extension


@needs_hymenoptera
def test_hymenoptera_s3_to_s3_four_shards(s3_client, bucket, s3_flags, tmp_path):
    uploaded = upload_tree(s3_client, HYMENOPTERA, bucket, "photos")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--input", f"s3://{bucket}/photos",
         "--output", f"s3://{bucket}/shards", "--num_shards", "4", "--image_size", "128",
         "--log_level", "INFO", *s3_flags],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    names = download_prefix(s3_client, bucket, "shards", str(tmp_path))
    assert names == ["dataset_info.json", "errors.jsonl", "labels.txt"] + [
        f"train-{i:05d}-of-00004.tfrecord" for i in range(4)]
    assert read_labels(tmp_path) == ["ants", "bees"]

    expected = collections.Counter()
    source_files = set()
    for label in ("ants", "bees"):
        for name in os.listdir(os.path.join(HYMENOPTERA, label)):
            assert has_image_extension(name)
            expected[label] += 1
            source_files.add(f"{label}/{name}")
    assert sum(expected.values()) == uploaded

    records = read_examples(shard_paths(tmp_path))
    errors = read_errors(tmp_path)
    written = {r["image/filename"].decode() for r in records}
    failed = {e["path"].split("/photos/", 1)[1] for e in errors}
    # Every file is accounted for, exactly once.
    assert written | failed == source_files and not written & failed
    assert len(records) == len(written)
    for record in records:
        label = record["image/class/text"].decode()
        assert record["image/class/label"] == ["ants", "bees"].index(label)
        assert record["image/filename"].decode().startswith(label + "/")
        assert min(record["pixels"].shape[:2]) <= 128
    assert "ants/imageNotFound.gif" in written  # A valid GIF, even if a placeholder.
    assert failed == set()  # Every hymenoptera file decodes: a run failing most of them must not pass.
    # One S3 connection per fetch thread and per shard upload: none dropped.
    assert "Connection pool is full" not in result.stderr

    summary = result.stdout
    assert f"matched {uploaded} = written {len(written)} + failed {len(failed)} + skipped" in summary
    for output in (result.stdout, result.stderr, *(open(tmp_path / n, "rb").read().decode("latin-1")
                                                    for n in names)):
        assert SECRET_KEY not in output and ACCESS_KEY not in output
