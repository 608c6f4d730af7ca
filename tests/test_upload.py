"""`im2tfrecord upload` against the local S3 server: every object holds the
local file's bytes, a rerun skips what is there and resumes what a killed or
failed run left, faults change nothing, and no multipart upload is left."""

import hashlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import botocore.exceptions
import numpy as np
import pytest

from pipeline.progress import format_line
from pipeline.upload import main as upload
from pipeline.upload import objects as upload_object
from tests.conftest import ACCESS_KEY
from tests.conftest import HYMENOPTERA
from tests.conftest import REGION
from tests.conftest import SECRET_KEY
from tests.conftest import needs_hymenoptera
from tests.conftest import on_both_s3_servers
from tests.conftest import s3_client_settings
from tests.conftest import stderr_lines
from tests.fault_proxy import FaultProxy
from tests.records import save_image
from transforms import storage

_MIB = 1024 * 1024
# The smallest part S3 allows, so that a 12 MiB file goes up in three parts.
_PART_FLAGS = ["--part_size_mb", "5"]
_BIG = "c/big.bin"
_KILL_WAIT_S = 60
_MANY = 90


def _flags(endpoint):
    return [
        f"--s3_endpoint_url={endpoint}",
        f"--s3_access_key_id={ACCESS_KEY}",
        f"--s3_secret_access_key={SECRET_KEY}",
        f"--s3_region_name={REGION}",
    ]


@pytest.fixture
def tree(tmp_path):
    """Images in two class folders, an empty file, a 12 MiB file, links to a
    file and to a folder (followed, as the converter does); and what is not
    uploaded: hidden files (counted)."""
    root = tmp_path / "tree"
    for label, color in (("a", (200, 30, 30)), ("b", (30, 30, 200))):
        for n in range(6):
            save_image(str(root / label / f"{n}.png"), color=(n * 40, *color[1:]), fmt="PNG")
    (root / "b" / "empty.txt").write_bytes(b"")
    (root / "c").mkdir()
    (root / _BIG).write_bytes(np.random.default_rng(0).bytes(12 * _MIB + 7))
    (root / ".DS_Store").write_bytes(b"finder")
    (root / "a" / ".hidden").mkdir()
    (root / "a" / ".hidden" / "x.png").write_bytes(b"hidden")
    (root / "c" / "link.png").symlink_to(root / "a" / "0.png")
    (root / "linked").symlink_to(root / "a", target_is_directory=True)
    return root


def _expected(root):
    """Path below root -> bytes, of every file the upload should copy."""
    files = {f"{label}/{n}.png": (root / label / f"{n}.png").read_bytes() for label in "ab" for n in range(6)}
    files.update(
        {"b/empty.txt": b"", _BIG: (root / _BIG).read_bytes(), "c/link.png": (root / "a" / "0.png").read_bytes()}
    )
    files.update({f"linked/{n}.png": (root / "a" / f"{n}.png").read_bytes() for n in range(6)})
    return files


def _objects(s3_client, bucket, prefix):
    """Key below prefix -> bytes, of every object there."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {key[len(prefix) + 1 :]: s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def _stored_sha256(s3_client, bucket, key):
    """The x-amz-meta-sha256 of the object: in any case, since gofakes3 gives
    metadata names as Go writes HTTP headers ("Sha256")."""
    metadata = s3_client.head_object(Bucket=bucket, Key=key)["Metadata"]
    return {name.lower(): value for name, value in metadata.items()}.get("sha256")


def _counts(out):
    """(uploaded, skipped, failed, not attempted) from the report."""
    match = re.search(
        r"files: (\d+) = (?:would upload|uploaded) (\d+) \+ skipped \(already there\) (\d+) "
        r"\([\d.]+ MB\) \+ failed (\d+)(?: \+ hidden \(not uploaded\) (\d+))?"
        r"(?: \+ not attempted (\d+))?",
        out,
    )
    assert match, out
    total, uploaded, skipped, failed, hidden, not_attempted = (int(g or 0) for g in match.groups())
    assert total == uploaded + skipped + failed + hidden + not_attempted
    return uploaded, skipped, failed, not_attempted


def _run(capsys, *argv):
    code = upload.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert ACCESS_KEY not in out + err and SECRET_KEY not in out + err
    return code, out, err


def _answered(proxy, operation):
    """Requests of this operation the proxy passed on (not faulted)."""
    return proxy.requests[operation] - sum(n for (op, _), n in proxy.faults.items() if op == operation)


def _no_uploads_left(s3_client, bucket):
    return s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_upload_then_rerun_skips_everything(tree, s3_client, bucket, s3_flags, capsys):
    code, out, _ = _run(capsys, tree, f"s3://{bucket}/photos/", *_PART_FLAGS, *s3_flags)
    assert code == 0, out
    expected = _expected(tree)
    assert _objects(s3_client, bucket, "photos") == expected
    assert _counts(out) == (len(expected), 0, 0, 0)
    big = s3_client.head_object(Bucket=bucket, Key=f"photos/{_BIG}")
    assert big["ETag"].strip('"').endswith("-3")  # Went up in three parts.
    assert big["Metadata"]["sha256"] == hashlib.sha256(expected[_BIG]).hexdigest()
    assert s3_client.head_object(Bucket=bucket, Key="photos/a/0.png")["ContentType"] == "image/png"

    # The default part size gives the big file another ETag: its SHA-256 decides.
    code, out, _ = _run(capsys, tree, f"s3://{bucket}/photos", *s3_flags)
    assert code == 0 and _counts(out) == (0, len(expected), 0, 0), out
    assert _no_uploads_left(s3_client, bucket)


def test_changed_files_are_replaced(tree, s3_client, bucket, s3_flags, capsys):
    assert _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)[0] == 0
    # Same sizes, other bytes: one in the last part of the big file.
    small = tree / "a" / "3.png"
    small.write_bytes(bytes(reversed(small.read_bytes())))
    big = bytearray((tree / _BIG).read_bytes())
    big[-1] ^= 0xFF
    (tree / _BIG).write_bytes(big)
    assert len(big) == 12 * _MIB + 7
    code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)
    # a/3.png is also linked/3.png (a symlinked folder): 3 objects changed.
    assert code == 0 and _counts(out)[:2] == (3, len(_expected(tree)) - 3), out
    assert "replaced 3 different objects" in out
    assert _objects(s3_client, bucket, "p") == _expected(tree)


def test_objects_from_other_tools_are_recognised_by_etag(tree, s3_client, bucket, s3_flags, capsys):
    """No sha256 metadata: the MD5 ETag of a single PUT (of a small file, and
    of one above our part size) and boto3's 8 MiB multipart ETag match; an
    object of the same size with other bytes is replaced."""
    (tree / "c" / "big2.bin").write_bytes(np.random.default_rng(2).bytes(6 * _MIB))
    expected = {**_expected(tree), "c/big2.bin": (tree / "c" / "big2.bin").read_bytes()}
    for path, data in expected.items():
        if path == _BIG:
            s3_client.upload_file(str(tree / path), bucket, f"p/{path}")  # Multipart, 8 MiB parts.
        else:
            s3_client.put_object(Bucket=bucket, Key=f"p/{path}", Body=data)
    assert s3_client.head_object(Bucket=bucket, Key=f"p/{_BIG}")["ETag"].strip('"').endswith("-2")
    s3_client.put_object(Bucket=bucket, Key="p/a/1.png", Body=b"x" * (tree / "a" / "1.png").stat().st_size)

    code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)
    assert code == 0 and _counts(out)[:2] == (1, len(expected) - 1), out
    assert _objects(s3_client, bucket, "p") == expected


@on_both_s3_servers
def test_leftover_multipart_uploads_are_resumed(tree, s3_client, s3_endpoint, bucket, capsys):
    """What runs killed after the first part leave: the rerun uploads only the
    two other parts, then, for a file that changed since (its SHA-256 in the
    metadata is another), all three afresh; other uploads at the key are aborted.
    On gofakes3 too, whose metadata names come back as "Sha256"."""
    (tree / "c" / "big2.bin").write_bytes(np.random.default_rng(2).bytes(12 * _MIB))
    for name, sha256 in (("big.bin", None), ("big2.bin", "0" * 64)):
        data, key = (tree / "c" / name).read_bytes(), f"p/c/{name}"
        metadata = {"sha256": sha256 or hashlib.sha256(data).hexdigest()}
        left = s3_client.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)["UploadId"]
        s3_client.upload_part(Bucket=bucket, Key=key, UploadId=left, PartNumber=1, Body=data[: 5 * _MIB])
        other = s3_client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        s3_client.upload_part(Bucket=bucket, Key=key, UploadId=other, PartNumber=1, Body=b"not this file")

    with FaultProxy(s3_endpoint, period=10**9) as proxy:  # Counts requests; faults each kind's first.
        code, out, _ = _run(capsys, tree / "c", f"s3://{bucket}/p/c", *_PART_FLAGS, *_flags(proxy.endpoint))
    assert code == 0 and "resumed 2 interrupted multipart uploads" in out, out
    assert _answered(proxy, "UploadPart") == 2 + (2 + 3)
    expected = {name: (tree / "c" / name).read_bytes() for name in ("big.bin", "big2.bin", "link.png")}
    assert _objects(s3_client, bucket, "p/c") == expected
    for name in ("big.bin", "big2.bin"):
        assert _stored_sha256(s3_client, bucket, f"p/c/{name}") == hashlib.sha256(expected[name]).hexdigest()
    assert _no_uploads_left(s3_client, bucket)


def test_a_file_changed_while_it_goes_up_is_not_completed(tree, s3_client, s3_endpoint, bucket):
    """Its multipart upload is aborted, not completed with a SHA-256 that
    would not describe its bytes."""
    big = str(tree / _BIG)

    def touch_after_first_part(n):
        if n:  # Bytes of a part are up: the file changes (its time, here).
            os.utime(big, ns=(time.time_ns(), time.time_ns() + 10**9))

    client = storage.make_s3_client(s3_client_settings(s3_endpoint))
    uploader = upload_object.Uploader(client, bucket, 5 * _MIB, threads=1, on_bytes=touch_after_first_part)
    with pytest.raises(upload_object.FileChanged):
        uploader.upload(big, "p/big.bin", os.stat(big), listed=None)
    uploader.close()
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket)
    assert _no_uploads_left(s3_client, bucket)


_NOT_LISTED_NOTE = (
    "note: the store does not list multipart uploads (NoSuchUpload): big files start over instead of resuming"
)


@pytest.mark.parametrize("s3_endpoint", ["gofakes3"], indirect=True)
def test_a_store_that_does_not_list_multipart_uploads(tree, s3_client, bucket, s3_flags, capsys):
    """gofakes3 refuses ListMultipartUploads in a bucket that never had a
    multipart upload: the upload says so once, puts big files up in fresh
    multipart uploads, and completes."""
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchUpload"):
        s3_client.list_multipart_uploads(Bucket=bucket)  # What makes this test one of the refusal.
    (tree / "c" / "big2.bin").write_bytes(np.random.default_rng(2).bytes(11 * _MIB))
    expected = {**_expected(tree), "c/big2.bin": (tree / "c" / "big2.bin").read_bytes()}

    code, out, err = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)
    assert code == 0 and _counts(out) == (len(expected), 0, 0, 0), out + err
    assert stderr_lines(err) == [_NOT_LISTED_NOTE]
    assert _objects(s3_client, bucket, "p") == expected
    for name in (_BIG, "c/big2.bin"):
        assert _stored_sha256(s3_client, bucket, f"p/{name}") == hashlib.sha256(expected[name]).hexdigest()

    code, out, err = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)
    assert code == 0 and _counts(out) == (0, len(expected), 0, 0), out + err


@pytest.fixture
def many(tmp_path):
    """Small images, enough that one at a time takes seconds to upload."""
    for n in range(_MANY):
        save_image(str(tmp_path / "many" / f"c{n % 3}" / f"{n:03d}.png"), size=(32, 32), color=(n, 0, 0), fmt="PNG")
    return tmp_path / "many"


def _start_slowly(many, bucket, s3_flags, s3_client):
    """Starts an upload of one file at a time in a child process; returns it
    once 10 files are up, and the command line."""
    command = [str(many), f"s3://{bucket}/p", *s3_flags]
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.upload.main", *command, "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + _KILL_WAIT_S
    while s3_client.list_objects_v2(Bucket=bucket, Prefix="p/").get("KeyCount", 0) < 10:
        assert process.poll() is None, "the upload ended before it was stopped"
        assert time.monotonic() < deadline, "nothing was uploaded"
        time.sleep(0.02)
    return process, command


def _md5s(s3_client, bucket, prefix):
    """Key below prefix -> ETag, which S3 makes the MD5 of what it stored (for single PUTs)."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return {item["Key"][len(prefix) + 1 :]: item["ETag"].strip('"') for page in pages for item in page["Contents"]}


def _local_md5s(root):
    return {
        path.relative_to(root).as_posix(): hashlib.md5(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_sigkill_mid_run_then_rerun(many, s3_client, bucket, s3_flags, capsys):
    process, command = _start_slowly(many, bucket, s3_flags, s3_client)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert s3_client.list_objects_v2(Bucket=bucket, Prefix="p/")["KeyCount"] < _MANY

    code, out, _ = _run(capsys, *command)
    uploaded, skipped, failed, _ = _counts(out)
    assert code == 0 and skipped >= 10 and uploaded + skipped == _MANY and failed == 0, out
    assert _md5s(s3_client, bucket, "p") == _local_md5s(many)


def test_ctrl_c_reports_and_the_rerun_completes(many, s3_client, bucket, s3_flags, capsys):
    process, command = _start_slowly(many, bucket, s3_flags, s3_client)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=_KILL_WAIT_S)
    assert process.returncode == 130, out + err
    assert "interrupted: rerun the same command" in out and "Traceback" not in err
    uploaded = _counts(out)[0]
    assert 10 <= uploaded < _MANY

    code, out, _ = _run(capsys, *command)
    assert code == 0 and _counts(out)[:2] == (_MANY - uploaded, uploaded), out
    assert _md5s(s3_client, bucket, "p") == _local_md5s(many)


def test_faults_on_every_operation_change_nothing(tree, s3_client, s3_endpoint, bucket, capsys):
    for n in range(30):
        save_image(str(tree / "d" / f"{n}.png"), color=(n, n, n), fmt="PNG")
    with FaultProxy(s3_endpoint, period=10, stall_s=0.3) as proxy:
        code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, "--threads", "4", *_flags(proxy.endpoint))
    assert code == 0, out
    expected = {**_expected(tree), **{f"d/{n}.png": (tree / "d" / f"{n}.png").read_bytes() for n in range(30)}}
    assert _objects(s3_client, bucket, "p") == expected
    faulted = {op for op, _ in proxy.faults}
    assert {"HEAD", "PUT", "LIST", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} <= faulted
    assert {kind for _, kind in proxy.faults} == {"slowdown", "internal", "reset", "stall"}
    assert _no_uploads_left(s3_client, bucket)


def test_denied_writes_fail_each_file_then_rerun_completes(tree, s3_client, s3_endpoint, s3_flags, bucket, capsys):
    with FaultProxy(s3_endpoint, period=10**9, deny=("PUT", "UploadPart")) as proxy:
        code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *_flags(proxy.endpoint))
    expected = _expected(tree)
    assert code == 1 and _counts(out) == (0, 0, len(expected), 0), out
    failed = re.findall(r"^  failed: (.+): S3 AccessDenied", out, re.MULTILINE)
    assert sorted(failed) == sorted(expected)
    assert _no_uploads_left(s3_client, bucket)  # The big file's upload was aborted.

    code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)
    assert code == 0 and _counts(out) == (len(expected), 0, 0, 0), out
    assert _objects(s3_client, bucket, "p") == expected


def test_bucket_removed_mid_run_stops_early(tmp_path, s3_client, s3_endpoint, bucket, capsys):
    for n in range(60):
        (tmp_path / "t").mkdir(exist_ok=True)
        (tmp_path / "t" / f"{n:02d}.bin").write_bytes(b"%d" % n)
    with FaultProxy(s3_endpoint, period=10**9, bucket_gone_after=10) as proxy:
        code, out, _ = _run(capsys, tmp_path / "t", f"s3://{bucket}/p", "--threads", "2", *_flags(proxy.endpoint))
    uploaded, _, failed, not_attempted = _counts(out)
    assert code == 1 and failed >= 1 and not_attempted >= 40, out
    assert "stopped early, since every request would fail (S3 NoSuchBucket" in out
    assert _answered(proxy, "PUT") < 20  # Not one failing PUT for each of the 60 files.


def test_dry_run_changes_nothing(tree, s3_client, bucket, s3_flags, capsys):
    s3_client.put_object(Bucket=bucket, Key="p/a/0.png", Body=(tree / "a" / "0.png").read_bytes())
    code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", "--dry_run", *s3_flags)
    assert code == 0 and _counts(out)[:2] == (len(_expected(tree)) - 1, 1), out
    assert "  would upload: b/empty.txt\n" in out
    assert list(_objects(s3_client, bucket, "p")) == ["a/0.png"]


def test_include_exclude_and_hidden(tree, s3_client, bucket, s3_flags, capsys):
    code, out, _ = _run(
        capsys, tree, f"s3://{bucket}", "--include", "*.png", "--exclude", "b/*", "--include_hidden", *s3_flags
    )
    assert code == 0, out
    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == (
        {f"{folder}/{n}.png" for folder in ("a", "linked") for n in range(6)}
        | {"a/.hidden/x.png", "linked/.hidden/x.png", "c/link.png"}
    )


def test_unreadable_file_is_listed_and_the_rest_uploaded(tree, s3_client, bucket, s3_flags, capsys):
    (tree / "b" / "broken.png").symlink_to(tree / "nowhere.png")
    code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)
    assert code == 1 and _counts(out)[:3] == (len(_expected(tree)), 0, 1), out
    assert "  failed: b/broken.png: symbolic link to a file or folder that does not exist" in out
    assert _objects(s3_client, bucket, "p") == _expected(tree)


def test_a_name_that_is_not_utf8_is_listed_and_the_rest_uploaded(tree, s3_client, bucket, s3_flags, capsys):
    # Latin-1 "café": no S3 key can name it (keys are UTF-8); the whole upload failed on it before.
    with open(os.path.join(os.fsencode(tree), b"b", b"caf\xe9.png"), "wb") as f:
        f.write(b"x")
    code, out, _ = _run(capsys, tree, f"s3://{bucket}/p", *_PART_FLAGS, *s3_flags)
    assert code == 1 and _counts(out)[:3] == (len(_expected(tree)), 0, 1), out
    assert "  failed: b/caf\\xe9.png: the path is not UTF-8 (its bytes not UTF-8 are shown as \\xNN): rename it" in out
    assert _objects(s3_client, bucket, "p") == _expected(tree)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["{tree}", "s3://missing-bucket-x/p"], "S3 bucket 'missing-bucket-x' does not exist"),
        (["{tree}/nope", "s3://{bucket}/p"], "does not exist"),
        (["{tree}/b/empty.txt", "s3://{bucket}/p"], "is not a folder"),
        (["{tree}", "{bucket}/p"], "the destination must be s3://BUCKET[/PREFIX]"),
        (["{tree}", "s3://{bucket}/p", "--part_size_mb", "4"], "--part_size_mb must be 5 to 5120"),
        (["{tree}", "s3://{bucket}/p", "--threads", "0"], "--threads must be 1 or more"),
        (["{tree}", "s3://{bucket}/p", "--thread", "4"], "unrecognized argument --thread (did you mean --threads?)"),
        (["{tree}"], "the following arguments are required"),
    ],
    ids=["no-bucket", "no-dir", "dir-is-file", "not-s3", "part-size", "threads", "unknown-flag", "no-destination"],
)
def test_wrong_invocations_fail_with_one_line(argv, message, tree, bucket, s3_flags, capsys):
    code, out, err = _run(capsys, *[a.format(tree=tree, bucket=bucket) for a in argv], *s3_flags)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("im2tfrecord upload: error: ") and message in err, err


@pytest.mark.parametrize(
    "endpoint,message",
    [
        ("proxy", "S3 refused HeadBucket on bucket"),
        ("http://127.0.0.1:9", "cannot reach the S3 endpoint"),
        ("notaurl", "--s3_endpoint_url must be a URL such as http://127.0.0.1:9000"),
    ],
    ids=["credentials-rejected", "unreachable", "not-a-url"],
)
def test_endpoint_problems_fail_fast(endpoint, message, tree, s3_endpoint, bucket, capsys):
    with FaultProxy(s3_endpoint, period=10**9, deny=("HEAD",)) as proxy:
        code, out, err = _run(
            capsys, tree, f"s3://{bucket}/p", *_flags(proxy.endpoint if endpoint == "proxy" else endpoint)
        )
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_debug_logs_hold_no_secrets(tree, bucket, s3_flags, capsys):
    code, out, err = _run(capsys, tree / "a", f"s3://{bucket}/p", "--log_level", "DEBUG", *s3_flags)
    assert code == 0 and "Authorization" in err  # botocore did log its request headers.


def test_help_explains_with_examples(capsys):
    assert upload.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "im2tfrecord upload LOCAL_DIR s3://BUCKET[/PREFIX]" in out and "examples:" in out


def test_progress_line_counts_files_bytes_and_eta(tree):
    counts = upload._Counts()
    counts.count_totals(str(tree), upload._local_files(str(tree), False, [], []))
    counts.add_file()
    counts.add_bytes(6 * _MIB)
    line = format_line("uploading", counts.reading(), elapsed_s=2.0)
    # 21 files: 15 real, 6 through the linked folder; 3 hidden ones counted too.
    # 6 MiB in 2 s is 3.1 MB/s; about as much again to go.
    assert re.fullmatch(r"uploading: 6\.3/12\.\d MB \((49|5\d)%\), 3\.1 MB/s, ETA [12] s; 1/24 files", line), line


@needs_hymenoptera
def test_real_photos(s3_client, bucket, s3_flags, capsys):
    code, out, _ = _run(capsys, HYMENOPTERA, f"s3://{bucket}/hymenoptera", *s3_flags)
    assert code == 0 and _counts(out) == (398, 0, 0, 0), out
    assert _md5s(s3_client, bucket, "hymenoptera") == _local_md5s(pathlib.Path(HYMENOPTERA))
