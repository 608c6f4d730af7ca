"""hymenoptera through the real console script in a subprocess, on each of
the two S3 servers (moto and gofakes3): up with `im2tfrecord upload`, then
converted S3 to S3, and S3 to a local folder; read back with TensorFlow."""

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
from tests.conftest import on_both_s3_servers
from tests.conftest import stderr_lines
from tests.conftest import upload_tree
from tests.records import read_errors
from tests.records import read_examples
from tests.records import read_labels
from tests.records import save_image
from tests.records import shard_paths

_SHARDS = [f"train-{i:05d}-of-00004.tfrecord" for i in range(4)]
# gofakes3 refuses ListMultipartUploads in a bucket that never had a
# multipart upload; moto lists them.
_NOT_LISTED_NOTE = (
    "note: the store does not list multipart uploads (NoSuchUpload): big files start over instead of resuming"
)


def _source_files():
    """Path below hymenoptera/ -> bytes, counted here rather than by the code
    under test: 398 photos (one of them a GIF placeholder), each decodable."""
    files = {}
    for folder, _, names in os.walk(HYMENOPTERA):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, HYMENOPTERA).replace(os.sep, "/")] = f.read()
    return files


def _im2tfrecord(*argv):
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *argv], capture_output=True, text=True, timeout=600, check=False
    )


def _convert(source, output, s3_flags):
    flags = ["--num_shards", "4", "--image_size", "128", "--log_level", "INFO"]
    return _im2tfrecord("--input", source, "--output", output, *flags, *s3_flags)


def _check_dataset(folder, result):
    """The dataset in `folder` (downloaded, or written there) holds every
    photo exactly once, with its label, and the summary says so."""
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(folder)) == [
        "dataset_info.json",
        "duplicates.jsonl",
        "errors.jsonl",
        "labels.txt",
        *_SHARDS,
    ]
    assert read_labels(folder) == ["ants", "bees"]
    source_files = set(_source_files())
    expected = collections.Counter(name.split("/")[0] for name in source_files)
    assert expected == {"ants": 194, "bees": 204}

    records = read_examples(shard_paths(folder))
    errors = read_errors(folder)
    assert errors == []  # A run failing some photos must not pass.
    assert {r["image/filename"].decode() for r in records} == source_files and len(records) == 398
    assert collections.Counter(r["image/class/text"].decode() for r in records) == expected
    for record in records:
        label = record["image/class/text"].decode()
        assert record["image/class/label"] == ["ants", "bees"].index(label)
        assert record["image/filename"].decode().startswith(label + "/")
        assert min(record["pixels"].shape[:2]) <= 128
    # One S3 connection per fetch thread and per shard upload: none dropped.
    assert "Connection pool is full" not in result.stderr

    assert "matched 398 = written 398 + failed 0 + skipped (not images, or hidden) 0" in result.stdout
    with open(os.path.join(folder, "dataset_info.json"), encoding="utf-8") as f:
        assert json.load(f)["counts"] == {"matched": 398, "written": 398, "failed": 0, "skipped": 0}
    outputs = [result.stdout, result.stderr]
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as f:
            outputs.append(f.read().decode("latin-1"))
    for output in outputs:
        assert SECRET_KEY not in output and ACCESS_KEY not in output


@needs_hymenoptera
@on_both_s3_servers
def test_upload_then_s3_to_s3_four_shards(request, s3_client, bucket, s3_flags, tmp_path):
    upload = _im2tfrecord("upload", HYMENOPTERA, f"s3://{bucket}/photos", *s3_flags)
    assert upload.returncode == 0, upload.stdout + upload.stderr
    assert "files: 398 = uploaded 398 + skipped (already there) 0 (0.0 MB) + failed 0\n" in upload.stdout
    server = request.node.callspec.params["s3_endpoint"]
    assert stderr_lines(upload.stderr) == ([_NOT_LISTED_NOTE] if server == "gofakes3" else []), upload.stderr
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="photos/")
    stored = {
        item["Key"][len("photos/") :]: s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for page in pages
        for item in page.get("Contents", [])
    }
    assert stored == _source_files()
    for output in (upload.stdout, upload.stderr):
        assert SECRET_KEY not in output and ACCESS_KEY not in output

    result = _convert(f"s3://{bucket}/photos", f"s3://{bucket}/shards", s3_flags)
    assert result.returncode == 0, result.stderr[-3000:]
    download_prefix(s3_client, bucket, "shards", str(tmp_path))
    _check_dataset(str(tmp_path), result)


@needs_hymenoptera
@on_both_s3_servers
def test_s3_to_local_four_shards(s3_client, bucket, s3_flags, tmp_path):
    assert upload_tree(s3_client, HYMENOPTERA, bucket, "photos") == 398  # boto3's upload_file, not ours.
    result = _convert(f"s3://{bucket}/photos", str(tmp_path / "out"), s3_flags)
    _check_dataset(str(tmp_path / "out"), result)


def test_upload_a_dead_worker_left_is_aborted_after_the_job(s3_client, bucket, s3_flags, tmp_path):
    # A worker killed mid-shard leaves its multipart upload open; the shard's
    # retry completes another. Planted here as that worker would leave it,
    # beside one that is not a dataset file of the output's (kept).
    for n in range(4):
        save_image(str(tmp_path / "src" / "cats" / f"{n}.png"), size=(40 + n, 30), fmt="PNG")
    upload_tree(s3_client, str(tmp_path / "src"), bucket, "in")
    s3_client.create_multipart_upload(Bucket=bucket, Key="out/train-00000-of-00001.tfrecord")
    s3_client.create_multipart_upload(Bucket=bucket, Key="out/notes/draft.txt")
    result = _im2tfrecord("--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", *s3_flags)
    assert result.returncode == 0, result.stderr[-3000:]
    left = [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    assert left == ["out/notes/draft.txt"]
    assert "written 4" in result.stdout
