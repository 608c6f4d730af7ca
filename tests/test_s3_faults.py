"""With 10% of S3 requests faulted (503, 500, resets, stalls, truncated
bodies), the output is byte-identical to a fault-free run, and no multipart
upload is left behind."""

import numpy as np
import pytest
from PIL import Image

from pipeline import main
from tests.conftest import ACCESS_KEY
from tests.conftest import REGION
from tests.conftest import SECRET_KEY
from tests.conftest import download_prefix
from tests.conftest import stderr_lines
from tests.fault_proxy import FaultProxy
from transforms import storage
from transforms.formats import tfrecord
from transforms.ownership import RUN_MARKER_FILE
from transforms.progress_records import is_progress_record

_IMAGES_PER_CLASS = 24


def _flags(endpoint):
    return [
        f"--s3_endpoint_url={endpoint}",
        f"--s3_access_key_id={ACCESS_KEY}",
        f"--s3_secret_access_key={SECRET_KEY}",
        f"--s3_region_name={REGION}",
    ]


def test_ten_percent_faults_change_nothing(s3_client, s3_endpoint, bucket, tmp_path, monkeypatch):
    # Incompressible 300x300 PNGs: the train shard is about 10 MiB, so it goes
    # up as a multipart upload (UploadPart, CompleteMultipartUpload) too.
    monkeypatch.setattr(storage, "_PART_BYTES", 5 * 1024 * 1024)
    rng = np.random.default_rng(1)
    for label in ("a", "b"):
        for n in range(_IMAGES_PER_CLASS):
            path = tmp_path / "src.png"
            Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(path)
            s3_client.upload_file(str(path), bucket, f"in/{label}/{n}.png")
    common = [
        "--input",
        f"s3://{bucket}/in",
        "--num_shards",
        "train=1,validation=2",
        "--image_format",
        "png",
        "--image_size",
        "300",
        "--validation_ratio",
        "0.25",
    ]

    assert main([*common, "--output", f"s3://{bucket}/clean", *_flags(s3_endpoint)]) == 0
    with FaultProxy(s3_endpoint, period=10, stall_s=0.5) as proxy:
        assert main([*common, "--output", f"s3://{bucket}/faulty", *_flags(proxy.endpoint)]) == 0

    clean = download_prefix(s3_client, bucket, "clean", str(tmp_path / "clean"))
    faulty = download_prefix(s3_client, bucket, "faulty", str(tmp_path / "faulty"))
    assert clean == faulty
    for name in clean:
        assert (tmp_path / "clean" / name).read_bytes() == (tmp_path / "faulty" / name).read_bytes(), name
    # Every operation the README says is faulted was, at least once.
    faulted_operations = {op for op, _ in proxy.faults}
    assert {
        "GET",
        "HEAD",
        "LIST",
        "PUT",
        "UploadPart",
        "CreateMultipartUpload",
        "CompleteMultipartUpload",
    } <= faulted_operations, (proxy.faults, proxy.requests)
    assert {kind for _, kind in proxy.faults} == {"slowdown", "internal", "reset", "stall", "truncate"}
    assert sum(proxy.faults.values()) * 10 >= sum(proxy.requests.values())
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


_WRITES = ("PUT", "UploadPart", "CompleteMultipartUpload")


@pytest.mark.parametrize(
    "failure,code,expected",
    [
        # No write allowed at all: found by the first write, before any work.
        (
            {"deny": _WRITES},
            2,
            "--output: S3 denied PutObject on bucket '{bucket}' (AccessDenied): "
            "the credentials need s3:PutObject there",
        ),
        # Only shards denied (a policy on some keys): found by the shard writer.
        ({"deny": _WRITES, "deny_keys_ending": (".tfrecord",)}, 1, "the job failed: AccessDenied"),
        ({"bucket_gone_after": 20}, 1, "the job failed: NoSuchBucket"),
    ],
    ids=["writes-denied", "shard-writes-denied", "bucket-removed-mid-run"],
)
def test_persistent_failure_fails_the_job_cleanly(
    failure, code, expected, s3_client, s3_endpoint, bucket, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(storage, "_PART_BYTES", 5 * 1024 * 1024)
    rng = np.random.default_rng(2)
    for n in range(24):
        path = tmp_path / "src.png"
        Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(path)
        s3_client.upload_file(str(path), bucket, f"in/a/{n}.png")
    with FaultProxy(s3_endpoint, period=1000, **failure) as proxy:
        assert (
            main(
                [
                    "--input",
                    f"s3://{bucket}/in",
                    "--output",
                    f"s3://{bucket}/out",
                    "--num_shards",
                    "1",
                    "--image_format",
                    "png",
                    "--image_size",
                    "300",
                    *_flags(proxy.endpoint),
                ]
            )
            == code
        )
    lines = stderr_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("im2tfrecord: error: "), lines
    assert expected.format(bucket=bucket) in lines[0] and SECRET_KEY not in lines[0]
    # Nothing under a final name: at most the run marker, written first, is
    # left, so that a rerun may replace what this run left, and progress
    # records where the store stopped answering before the end (a rerun
    # removes them first).
    left = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])]
    hidden = {key for key in left if is_progress_record(key[len("out/") :])}
    assert set(left) - hidden <= {"out/" + RUN_MARKER_FILE}, left
    assert not hidden or failure.get("bucket_gone_after"), left
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_beam_writer_under_faults_loses_nothing(s3_client, s3_endpoint, bucket, tmp_path):
    # Beam's own S3 writer: shards are not byte-identical from run to run
    # (Beam deals records to shards at random), so compare the records. One
    # request in 3 of each operation is faulted: over 12 shards' UploadParts
    # that is every kind of fault.
    rng = np.random.default_rng(3)
    for n in range(16):
        path = tmp_path / "src.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        s3_client.upload_file(str(path), bucket, f"in/{'ab'[n % 2]}/{n}.png")
    common = ["--input", f"s3://{bucket}/in", "--num_shards", "12", "--writer", "beam", "--image_format", "png"]
    assert main([*common, "--output", f"s3://{bucket}/clean", *_flags(s3_endpoint)]) == 0
    with FaultProxy(s3_endpoint, period=3, stall_s=0.2) as proxy:
        assert main([*common, "--output", f"s3://{bucket}/faulty", *_flags(proxy.endpoint)]) == 0
    assert {kind for op, kind in proxy.faults if op == "UploadPart"} == {"slowdown", "internal", "reset", "stall"}, (
        proxy.faults
    )

    def records(prefix):
        names = download_prefix(s3_client, bucket, prefix, str(tmp_path / prefix))
        shards = [name for name in names if name.endswith(".tfrecord")]
        assert len(shards) == 12, names
        return sorted(r for name in shards for r in tfrecord.read_records((tmp_path / prefix / name).read_bytes()))

    clean = records("clean")
    assert len(clean) == 16 and records("faulty") == clean
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
