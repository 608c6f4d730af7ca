"""Never delete or overwrite a file the tool did not write (transforms/ownership.py).

Files named like shards but not provably ours make a run refuse, with or
without --overwrite, and stay byte for byte; what a killed run of ours left
(its marker is there) and what our own complete dataset holds are replaced.
"""

import json
import os

import botocore.exceptions
import pytest

from pipeline import main
from tests.conftest import on_both_s3_servers
from tests.conftest import stderr_lines
from tests.records import save_image
from transforms.ownership import RUN_MARKER_FILE
from transforms.ownership import files_to_replace
from transforms.ownership import survey
from transforms.storage import Storage

# Named like ours, written by someone else.
_USER_FILES = {
    "train-00000-of-00003.tfrecord": b"their shard 0",
    "train-00001-of-00003.tfrecord": b"their shard 1",
    "labels.txt": b"cat\ndog\n",
}


@pytest.fixture
def tree(tmp_path):
    for label in ("cat", "dog"):
        for n in range(3):
            save_image(str(tmp_path / "in" / label / f"{n}.png"), size=(30 + n, 20), fmt="PNG")
    return str(tmp_path / "in")


def _write(folder, files):
    os.makedirs(folder, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def _read_all(folder):
    result = {}
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as f:
            result[name] = f.read()
    return result


def _error_lines(capsys):
    return stderr_lines(capsys.readouterr().err)


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_user_files_named_like_shards_are_never_touched(overwrite, tree, tmp_path, capsys):
    out = str(tmp_path / "out")
    _write(out, _USER_FILES)
    assert main(["--input", tree, "--output", out, "--num_shards", "3", *overwrite]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "no run of im2tfrecord marked as its own" in lines[0], lines
    assert "train-00000-of-00003.tfrecord" in lines[0]
    assert _read_all(out) == _USER_FILES


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_user_files_on_s3_are_never_touched(overwrite, tree, s3_client, bucket, s3_flags, capsys):
    for name, data in _USER_FILES.items():
        s3_client.put_object(Bucket=bucket, Key=f"out/{name}", Body=data)
    assert main(["--input", tree, "--output", f"s3://{bucket}/out", *s3_flags, *overwrite]) == 2
    assert "no run of im2tfrecord marked as its own" in _error_lines(capsys)[0]
    stored = {
        item["Key"][4:]: s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in s3_client.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]
    }
    assert stored == _USER_FILES


def test_overwrite_replaces_our_dataset_and_keeps_everything_else(tree, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["--input", tree, "--output", out, "--num_shards", "3"]) == 0
    _write(out, {"notes.txt": b"mine", "README": b"also mine"})
    assert main(["--input", tree, "--output", out, "--num_shards", "2", "--overwrite"]) == 0
    names = sorted(os.listdir(out))
    assert names == [
        "README",
        "dataset_info.json",
        "duplicates.jsonl",
        "errors.jsonl",
        "labels.txt",
        "notes.txt",
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    assert _read_all(out)["notes.txt"] == b"mine"


def test_a_foreign_shard_beside_our_dataset_is_refused(tree, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["--input", tree, "--output", out, "--num_shards", "1"]) == 0
    _write(out, {"validation-00000-of-00001.tfrecord": b"not ours"})
    before = _read_all(out)
    capsys.readouterr()
    assert main(["--input", tree, "--output", out, "--num_shards", "1", "--overwrite"]) == 2
    assert "validation-00000-of-00001.tfrecord" in _error_lines(capsys)[0]
    assert _read_all(out) == before


def test_what_a_killed_run_left_is_replaced_without_overwrite(tree, tmp_path):
    out = str(tmp_path / "out")
    # A killed run: its marker, a shard of another count, a temporary.
    _write(
        out,
        {
            RUN_MARKER_FILE: b'{"owned": [], "tool": "im2tfrecord"}\n',
            "train-00000-of-00005.tfrecord": b"partial run",
            ".train-00001-of-00005.tfrecord.inprogress-" + "0" * 32: b"half",
        },
    )
    assert main(["--input", tree, "--output", out, "--num_shards", "1"]) == 0
    assert sorted(os.listdir(out)) == [
        "dataset_info.json",
        "duplicates.jsonl",
        "errors.jsonl",
        "labels.txt",
        "train-00000-of-00001.tfrecord",
    ]


def test_a_dataset_whose_launcher_was_killed_is_replaced_without_overwrite(tree, tmp_path):
    # A Flink job finished after its launcher was killed: the dataset is
    # complete, but the marker the launcher would have removed is still there.
    out = str(tmp_path / "out")
    assert main(["--input", tree, "--output", out, "--num_shards", "1"]) == 0
    finished = _read_all(out)
    _write(out, {RUN_MARKER_FILE: b'{"owned": [], "tool": "im2tfrecord"}\n'})
    assert main(["--input", tree, "--output", out, "--num_shards", "1"]) == 0
    assert _read_all(out) == finished
    # Without the marker the same dataset is one to keep.
    assert main(["--input", tree, "--output", out, "--num_shards", "1"]) == 2


def test_survey_sorts_files_into_owned_and_foreign(tmp_path):
    out = str(tmp_path)
    info = {
        "tool": {"name": "im2tfrecord"},
        "splits": {
            "train": {
                "shards": [
                    {
                        "file": "train-00000-of-00001.rec",
                        "index_file": "train-00000-of-00001.idx",
                        "list_file": "train-00000-of-00001.lst",
                    }
                ]
            }
        },
    }
    _write(
        out,
        {
            "dataset_info.json": json.dumps(info).encode(),
            "labels.txt": b"a\n",
            "train-00000-of-00001.rec": b"",
            "train-00000-of-00001.idx": b"",
            "train-00000-of-00001.lst": b"",
            "test-00000-of-00001.rec": b"",
            "photo.jpg": b"",
        },
    )
    found = survey(Storage({}), out)
    assert found.complete
    assert found.owned == (
        "dataset_info.json",
        "labels.txt",
        "train-00000-of-00001.idx",
        "train-00000-of-00001.lst",
        "train-00000-of-00001.rec",
    )
    assert found.foreign == ("test-00000-of-00001.rec",)
    # Someone else's dataset_info.json is not a claim of ours.
    _write(out, {"dataset_info.json": b'{"splits": {}}'})
    assert not survey(Storage({}), out).complete
    assert "dataset_info.json" in survey(Storage({}), out).foreign


def test_only_what_the_marker_claims_and_our_temporaries_are_replaced(tmp_path):
    # The last guard, after the run's start refused foreign files: a file named
    # like ours that appeared since (not in the marker) is never removed.
    out = str(tmp_path)
    temporary = ".train-00000-of-00002.tfrecord.inprogress-" + "0" * 32
    _write(
        out,
        {
            RUN_MARKER_FILE: json.dumps({"owned": ["train-00000-of-00002.tfrecord"]}).encode(),
            "train-00000-of-00002.tfrecord": b"ours",
            "train-00001-of-00002.tfrecord": b"theirs",
            "labels.txt": b"theirs",
            temporary: b"",
        },
    )
    names = os.listdir(out)
    assert files_to_replace(Storage({}), out, names) == {"train-00000-of-00002.tfrecord", temporary}
    os.remove(os.path.join(out, RUN_MARKER_FILE))  # No marker: only temporaries.
    assert files_to_replace(Storage({}), out, os.listdir(out)) == {temporary}


def test_beam_writer_refuses_files_its_sink_would_delete(tree, tmp_path, capsys):
    # Beam deletes <split>-*-of-NNNNN.tfrecord before finalizing: a wider
    # pattern than our shard names, so such a file must not be someone else's.
    out = str(tmp_path / "out")
    _write(out, {"train-old-of-00001.tfrecord": b"keep me"})
    assert main(["--input", tree, "--output", out, "--num_shards", "1", "--writer", "beam", "--overwrite"]) == 2
    assert "train-old-of-00001.tfrecord" in _error_lines(capsys)[0]
    assert _read_all(out) == {"train-old-of-00001.tfrecord": b"keep me"}
    # The default writer touches only its own names: it goes ahead and leaves the file.
    assert main(["--input", tree, "--output", out, "--num_shards", "1"]) == 0
    assert _read_all(out)["train-old-of-00001.tfrecord"] == b"keep me"


@on_both_s3_servers
def test_a_killed_s3_runs_multipart_uploads_are_aborted(tree, s3_client, bucket, s3_flags):
    # What SIGKILL leaves on S3: the marker and an unfinished shard upload.
    s3_client.put_object(Bucket=bucket, Key=f"out/{RUN_MARKER_FILE}", Body=b'{"owned": [], "tool": "im2tfrecord"}')
    s3_client.create_multipart_upload(Bucket=bucket, Key="out/train-00003-of-00004.tfrecord")
    s3_client.create_multipart_upload(Bucket=bucket, Key="elsewhere/train-00000-of-00001.tfrecord")
    assert main(["--input", tree, "--output", f"s3://{bucket}/out", "--num_shards", "1", *s3_flags]) == 0
    left = [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    assert left == ["elsewhere/train-00000-of-00001.tfrecord"]


@pytest.mark.parametrize("s3_endpoint", ["gofakes3"], indirect=True)
def test_a_killed_s3_run_on_a_store_that_does_not_list_uploads(tree, s3_client, bucket, s3_flags, capsys):
    """gofakes3 refuses ListMultipartUploads in a bucket that never had one:
    the rerun over a killed run's marker says so once and completes."""
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchUpload"):
        s3_client.list_multipart_uploads(Bucket=bucket)  # What makes this test one of the refusal.
    s3_client.put_object(Bucket=bucket, Key=f"out/{RUN_MARKER_FILE}", Body=b'{"owned": [], "tool": "im2tfrecord"}')
    assert main(["--input", tree, "--output", f"s3://{bucket}/out", "--num_shards", "1", *s3_flags]) == 0
    captured = capsys.readouterr()
    assert stderr_lines(captured.err) == [
        "note: the store does not list multipart uploads (NoSuchUpload): "
        f"any that a killed run left under s3://{bucket}/out/ are not aborted"
    ]
    assert "matched 6 = written 6 + failed 0" in captured.out
    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {
        f"out/{name}" for name in ("dataset_info.json", "duplicates.jsonl", "errors.jsonl", "labels.txt")
    } | {"out/train-00000-of-00001.tfrecord"}
