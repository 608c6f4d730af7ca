"""`im2tfrecord inspect`: a converted dataset passes; each kind of damage is found and named."""

import io
import json
import re
import shutil
import struct
import subprocess
import sys
import threading

import pytest

from pipeline import main as cli_main
from pipeline import progress
from pipeline.inspection import checks
from tests.conftest import ACCESS_KEY
from tests.conftest import SECRET_KEY
from tests.conftest import stderr_lines
from tests.conftest import upload_tree
from tests.records import save_image
from transforms.example_proto import parse_example
from transforms.example_proto import serialize_example
from transforms.formats import recordio
from transforms.formats import tfrecord

CLASSES = ("blue", "green", "red")
PER_CLASS = 5
# --validation_ratio 0.2 of 5 images: 1 per class to validation, 4 to train.
EXPECTED = {"train": {name: 4 for name in CLASSES}, "validation": {name: 1 for name in CLASSES}}
TRAIN_0 = "train-00000-of-00002.tfrecord"


CONVERT = ["--num_shards", "2", "--validation_ratio", "0.2", "--image_size", "32"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for label in CLASSES:
        for n in range(PER_CLASS):
            save_image(str(root / label / f"{label}_{n}.png"), size=(40 + 8 * n, 30), fmt="PNG")
    return root


@pytest.fixture(scope="module")
def dataset(images, tmp_path_factory):
    """A dataset converted once per module; tests that damage it work on a copy."""
    out = tmp_path_factory.mktemp("dataset") / "out"
    assert cli_main(["--input", str(images), "--output", str(out), *CONVERT]) == 0
    return out


@pytest.fixture
def copy(dataset, tmp_path):
    return shutil.copytree(dataset, tmp_path / "copy")


def inspect(capsys, *args):
    """(exit code, report dict) of `im2tfrecord inspect ... --json`."""
    code = cli_main(["inspect", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def error_line(capsys):
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1, err
    assert err[0].startswith("im2tfrecord inspect: error: ")
    return err[0]


def per_class(doc):
    return {name: split["per_class"] for name, split in doc["splits"].items()}


def test_converted_dataset_is_valid_with_the_converted_counts(dataset, capsys):
    code, doc, _ = inspect(capsys, dataset)
    assert code == 0 and doc["valid"] and doc["records_checked"]
    assert doc["records_read"] == 3 * PER_CLASS
    assert per_class(doc) == EXPECTED
    assert {name: split["counts_from"] for name, split in doc["splits"].items()} == {
        "train": "records",
        "validation": "records",
    }
    info = json.loads((dataset / "dataset_info.json").read_text())
    for name, split in doc["splits"].items():
        assert split["num_shards"] == 2
        assert split["num_bytes"] == info["splits"][name]["num_bytes"]
        sizes = [s["num_bytes"] for s in info["splits"][name]["shards"]]
        assert split["shard_bytes"] == {"min": min(sizes), "median": sum(sizes) // 2, "max": max(sizes)}


def test_text_report_shows_tables_and_ok(dataset, capsys):
    assert cli_main(["inspect", str(dataset)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].startswith(f"checked {3 * PER_CLASS} of {3 * PER_CLASS} records in ")
    assert any(line.split()[:3] == ["train", "2", "12"] for line in lines), out
    assert any(line.split()[:3] == ["validation", "2", "3"] for line in lines), out
    assert any(line.split() == ["1", "green", "4", "(33.3%)", "1", "(33.3%)"] for line in lines), out
    assert "train: every class has 4 records" in lines
    assert lines[-1] == "OK: no problems found"


def test_quick_reads_sizes_not_records(copy, capsys):
    shard = copy / TRAIN_0
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF  # The last record's data crc: same size, bad record.
    shard.write_bytes(bytes(data))
    code, doc, _ = inspect(capsys, copy, "--quick")
    assert code == 0 and not doc["records_checked"] and doc["records_read"] == 0
    assert per_class(doc) == EXPECTED  # dataset_info.json's counts
    assert doc["splits"]["train"]["counts_from"] == "dataset_info.json"
    code, doc, _ = inspect(capsys, copy)
    assert code == 1 and not doc["valid"]


def record_starts(data):
    """Byte offset of each TFRecord frame in a shard's bytes."""
    starts, position = [], 0
    while position < len(data):
        starts.append(position)
        (length,) = struct.unpack_from("<Q", data, position)
        position += 12 + length + 4
    return starts


def test_flipped_byte_names_the_shard_the_record_and_its_offset(copy, capsys):
    shard = copy / TRAIN_0
    data = bytearray(shard.read_bytes())
    starts = record_starts(bytes(data))
    index = len(starts) // 2
    data[starts[index] + 20] ^= 0x01  # Inside the record's data, past its 12-byte header.
    shard.write_bytes(bytes(data))

    code, doc, _ = inspect(capsys, copy)
    assert code == 1
    assert doc["problems_by_reason"]["checksum_mismatch"] == 1
    assert doc["problems_by_reason"]["corrupt_record"] == 1
    corrupt = next(p for p in doc["problems"] if p["reason"] == "corrupt_record")
    assert corrupt["file"] == TRAIN_0 and corrupt["record"] == index
    assert doc["records_read"] == 3 * PER_CLASS - (len(starts) - index)
    assert f"corrupt record data at byte {starts[index]}" in corrupt["message"]
    assert any(p["file"] == TRAIN_0 for p in doc["problems"] if p["reason"] == "checksum_mismatch")
    # Its split was not read whole: the report falls back to dataset_info.json's counts.
    assert doc["splits"]["train"]["counts_from"] == "dataset_info.json"

    assert cli_main(["inspect", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"  {TRAIN_0}: record {index}: corrupt record data at byte {starts[index]}" in out
    assert "PROBLEMS: 2 found (checksum_mismatch 1, corrupt_record 1)" in out


def test_deleted_shard_is_missing(copy, capsys):
    (copy / "validation-00001-of-00002.tfrecord").unlink()
    code, doc, _ = inspect(capsys, copy)
    assert code == 1
    assert [(p["file"], p["reason"]) for p in doc["problems"]] == [
        ("validation-00001-of-00002.tfrecord", "missing_shard")
    ]
    assert doc["splits"]["train"]["counts_from"] == "records"


def test_duplicates_file_must_hold_a_row_per_group(copy, capsys):
    (copy / "duplicates.jsonl").write_text('{"basis": "file"}\n')  # dataset_info.json: 5 groups.
    code, doc, _ = inspect(capsys, copy)
    assert code == 1 and [(p["file"], p["reason"]) for p in doc["problems"]] == [("duplicates.jsonl", "count_mismatch")]
    (copy / "duplicates.jsonl").unlink()
    code, doc, _ = inspect(capsys, copy, "--quick")
    assert code == 1 and [(p["file"], p["reason"]) for p in doc["problems"]] == [("duplicates.jsonl", "missing_file")]


def test_statistics_and_duplicates_are_reported(dataset, capsys):
    code, doc, _ = inspect(capsys, dataset)
    info = json.loads((dataset / "dataset_info.json").read_text())
    # The same solid colour and size under each class name: 5 files in 3 copies each.
    assert doc["duplicates"] == info["duplicates"] and doc["duplicates"]["groups"] == PER_CLASS
    assert doc["splits"]["train"]["statistics"] == info["splits"]["train"]["statistics"]
    assert cli_main(["inspect", str(dataset)]) == 0
    lines = capsys.readouterr().out.splitlines()
    mean = " ".join(f"{v:.2f}" for v in info["splits"]["validation"]["statistics"]["mean"])
    assert any(line.startswith(f"validation pixels before encoding: mean {mean}, std ") for line in lines), lines
    assert "duplicates.jsonl: 5 groups of identical images (15 images): across splits 3, across classes 5" in lines


def test_stray_shard_file_is_reported(copy, capsys):
    shutil.copy(copy / TRAIN_0, copy / "train-00007-of-00009.tfrecord")
    code, doc, _ = inspect(capsys, copy, "--quick")
    assert code == 1
    assert [(p["file"], p["reason"]) for p in doc["problems"]] == [("train-00007-of-00009.tfrecord", "unlisted_shard")]


def test_label_that_disagrees_with_its_class_text(copy, capsys):
    """Two records of different classes swap labels: the counts still add up and
    the files match dataset_info.json, so only the label check can catch it."""
    shard = copy / TRAIN_0
    records = [
        {key: values[0] for key, values in parse_example(record).items()}
        for record in tfrecord.read_records(shard.read_bytes())
    ]
    first = next(i for i, r in enumerate(records) if r["image/class/label"] == 0)
    second = next(i for i, r in enumerate(records) if r["image/class/label"] == 2)
    records[first]["image/class/label"], records[second]["image/class/label"] = 2, 0
    shard.write_bytes(b"".join(tfrecord.frame(serialize_example(r)) for r in records))
    _fix_checksum(copy, TRAIN_0)

    code, doc, _ = inspect(capsys, copy)
    assert code == 1
    assert doc["problems_by_reason"] == {"label_mismatch": 2}
    found = sorted((p["file"], p["record"]) for p in doc["problems"])
    assert found == sorted([(TRAIN_0, first), (TRAIN_0, second)])
    message = next(p["message"] for p in doc["problems"] if p["record"] == first)
    filename = records[first]["image/filename"].decode()
    assert message == (f"record {first} ({filename}): label 2 is 'red', but image/class/text is 'blue'")


def test_each_bad_record_is_named_with_its_reason(copy, capsys):
    shard = copy / TRAIN_0
    records = [
        {key: values[0] for key, values in parse_example(record).items()}
        for record in tfrecord.read_records(shard.read_bytes())
    ]
    records[0]["image/encoded"] = b"\xff\xd8\xff not a jpeg"
    records[1]["image/height"] += 1
    del records[2]["image/filename"]
    records[3]["image/class/label"] = 7
    frames = [tfrecord.frame(serialize_example(r)) for r in records]
    frames[4] = tfrecord.frame(b"\xff\xff\xff")  # A good frame around bytes that are no Example.
    shard.write_bytes(b"".join(frames))
    _fix_checksum(copy, TRAIN_0)

    code, doc, _ = inspect(capsys, copy)
    assert code == 1
    found = {(p["record"], p["reason"]) for p in doc["problems"] if p["file"] == TRAIN_0}
    assert found == {
        (0, "bad_image"),
        (1, "image_mismatch"),
        (2, "bad_feature"),
        (3, "label_out_of_range"),
        (4, "bad_example"),
    }
    # Three records have no usable label, so the split's classes come up short.
    assert set(doc["problems_by_reason"]) == {r for _, r in found} | {"count_mismatch"}
    mismatch = next(p["message"] for p in doc["problems"] if p["reason"] == "image_mismatch")
    height = records[1]["image/height"]
    assert mismatch.endswith(
        f"the image is {records[1]['image/width']}x{height - 1}x3, "
        f"the record says {records[1]['image/width']}x{height}x3"
    )


def _fix_checksum(folder, name):
    """Makes dataset_info.json describe the rewritten shard `name`."""
    import hashlib

    info_path = folder / "dataset_info.json"
    info = json.loads(info_path.read_text())
    data = (folder / name).read_bytes()
    for split in info["splits"].values():
        for shard in split["shards"]:
            if shard["file"] == name:
                shard["sha256"], shard["num_bytes"] = hashlib.sha256(data).hexdigest(), len(data)
        split["num_bytes"] = sum(shard["num_bytes"] for shard in split["shards"])
    info_path.write_text(json.dumps(info))


def test_split_option_checks_only_that_split(copy, capsys):
    (copy / TRAIN_0).unlink()
    code, doc, _ = inspect(capsys, copy, "--split", "validation")
    assert code == 0 and list(doc["splits"]) == ["validation"]
    assert per_class(doc) == {"validation": EXPECTED["validation"]}


def test_s3_dataset_gives_the_same_report(dataset, s3_client, bucket, s3_flags, capsys):
    upload_tree(s3_client, str(dataset), bucket, "datasets/colors")
    _, local, _ = inspect(capsys, dataset)
    code, remote, err = inspect(capsys, f"s3://{bucket}/datasets/colors/", *s3_flags)
    assert code == 0 and remote["valid"] and remote["records_checked"]
    assert remote["splits"] == local["splits"]
    text = json.dumps(remote) + err
    assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_s3_debug_log_names_no_credentials(dataset, s3_client, bucket, s3_flags):
    """At DEBUG botocore logs signed request headers, which hold the access key id."""
    upload_tree(s3_client, str(dataset), bucket, "colors")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "inspect", f"s3://{bucket}/colors", "--log_level", "DEBUG", *s3_flags],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The debug log was on: botocore logged each signed request, whose
    # Authorization header names the key id, and the key id was blanked.
    sent = [
        line
        for line in result.stderr.splitlines()
        if re.match(r"DEBUG\W+botocore\.endpoint\W", line) and "Sending http request" in line
    ]
    assert sent, result.stderr[-3000:]
    assert all("Authorization" in line and "Credential=***/" in line for line in sent), sent[0]
    for output in (result.stdout, result.stderr):
        assert SECRET_KEY not in output and ACCESS_KEY not in output


@pytest.mark.parametrize(
    "prefix,expected",
    [
        ("s3://no-such-bucket-for-inspect/data", "S3 bucket 'no-such-bucket-for-inspect' does not exist"),
        ("s3://{bucket}/nothing-here", "not an im2tfrecord dataset (no dataset_info.json): s3://{bucket}/nothing-here"),
    ],
)
def test_s3_wrong_place_is_a_wrong_invocation(prefix, expected, bucket, s3_flags, capsys):
    assert cli_main(["inspect", prefix.format(bucket=bucket), *s3_flags]) == 2
    line = error_line(capsys)
    assert expected.format(bucket=bucket) in line
    assert SECRET_KEY not in line and ACCESS_KEY not in line


def test_not_our_dataset_info_is_a_wrong_invocation(tmp_path, capsys):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"name": "mnist", "splits": []}))
    assert cli_main(["inspect", str(tmp_path)]) == 2
    assert "is not an im2tfrecord one" in error_line(capsys)


@pytest.mark.parametrize(
    "args,expected",
    [
        ([], "the following arguments are required: PREFIX"),
        (["{missing}"], "{missing} does not exist"),
        (["{dataset}/labels.txt"], "{dataset}/labels.txt is a file: name the dataset's folder"),
        (["{tmp}"], "not an im2tfrecord dataset (no dataset_info.json)"),
        (["{dataset}", "--s3_endpoint_url", "notaurl"], "--s3_endpoint_url must be a URL such as"),
        (["{dataset}", "--split", "test"], "--split test: {dataset} has no such split (it has train, validation)"),
        (["{dataset}", "--samples_per_class", "0"], "--samples_per_class must be 1 to 64, got 0"),
        (["{dataset}", "--contact_sheet", "{missing}/sheet.png"], "does not exist"),
        (["{dataset}", "--contact_sheet", "s3://bucket/sheet.png"], "must be a local path"),
        (["{dataset}", "--quik"], "unrecognized argument --quik (did you mean --quick?)"),
    ],
)
def test_wrong_invocations_fail_with_one_line(args, expected, dataset, tmp_path, capsys):
    values = {"dataset": str(dataset), "missing": str(tmp_path / "missing"), "tmp": str(tmp_path)}
    assert cli_main(["inspect", *(a.format(**values) for a in args)]) == 2
    assert expected.format(**values) in error_line(capsys)


def test_help_explains_with_examples(capsys):
    assert cli_main(["inspect", "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "im2tfrecord inspect ./shards --contact_sheet sheet.png" in out
    for flag in (
        "--quick",
        "--split",
        "--contact_sheet",
        "--samples_per_class",
        "--json",
        "--s3_endpoint_url",
        "--s3_secret_access_key",
        "--s3_disable_ssl",
        "--log_level",
    ):
        assert flag in out, flag
    assert "exit codes: 0" in out


REC_0 = "train-00000-of-00002.rec"


def test_recordio_is_checked_record_by_record(images, tmp_path, capsys):
    out = tmp_path / "recordio"
    assert cli_main(["--input", str(images), "--output", str(out), "--format", "recordio", *CONVERT]) == 0
    capsys.readouterr()
    code, doc, _ = inspect(capsys, out)
    assert (code, doc["records_checked"], doc["records_read"]) == (0, True, 15)
    assert per_class(doc) == EXPECTED
    assert {split["counts_from"] for split in doc["splits"].values()} == {"records"}

    # Rewritten records, each wrong in one way, in a shard whose sha256 is then fixed.
    with open(out / REC_0, "rb") as f:
        payloads = list(recordio.read_records(f))
    headers = [recordio.unpack_header(payload) for payload in payloads]
    payloads[0] = recordio.pack_header(headers[0][0].label, 0) + b"\xff\xd8\xff not a jpeg"
    payloads[1] = recordio.pack_header(7, 1) + headers[1][1]  # 3 classes: ids 0..2
    payloads[2] = recordio.pack_header(1.5, 2) + headers[2][1]
    payloads[3] = b"short"
    (out / REC_0).write_bytes(b"".join(recordio.frame(payload) for payload in payloads))
    _fix_checksum(out, REC_0)
    (out / "train-00001-of-00002.idx").unlink()
    code, doc, _ = inspect(capsys, out)
    assert code == 1
    found = {(p["file"], p.get("record"), p["reason"]) for p in doc["problems"] if p["file"] != "dataset_info.json"}
    assert found == {
        (REC_0, 0, "bad_image"),
        (REC_0, 1, "label_out_of_range"),
        (REC_0, 2, "bad_header"),
        (REC_0, 3, "bad_record"),
        ("train-00001-of-00002.idx", None, "missing_shard"),
    }

    # A broken magic word: the records after it cannot be found.
    data = bytearray((out / REC_0).read_bytes())
    data[len(recordio.frame(payloads[0]))] ^= 0xFF
    (out / REC_0).write_bytes(bytes(data))
    _fix_checksum(out, REC_0)
    code, doc, _ = inspect(capsys, out)
    corrupt = [p for p in doc["problems"] if p["reason"] == "corrupt_record"]
    assert [(p["file"], p["record"]) for p in corrupt] == [(REC_0, 1)]
    assert "no RecordIO magic word at byte" in corrupt[0]["message"]


class _Terminal(io.StringIO):
    """A terminal that says when the bar has first drawn on it."""

    def __init__(self):
        super().__init__()
        self.drawn = threading.Event()

    def isatty(self):
        return True

    def write(self, text):
        written = super().write(text)
        if "\r" in text:
            self.drawn.set()
        return written


def test_progress_line_redraws_in_place_and_leaves_nothing():
    terminal = _Terminal()
    tally = checks._Tally(10, 4 * 1024 * 1024)
    with progress.Progress("checking", tally.reading, stream=terminal, interval_s=0.01) as line:
        tally.add(records=4, num_bytes=1024 * 1024)
        assert line.line().startswith("checking: 1.0/4.0 MiB (25%), ")
        assert line.line().endswith("; 4/10 records")
        # However late the line's thread runs on a busy machine.
        assert terminal.drawn.wait(timeout=60)
    shown = terminal.getvalue()
    assert "checking: 1.0/4.0 MiB" in shown and "\n" not in shown
    assert shown.rsplit("\r", 1)[-1] == "" and not shown.rsplit("\r", 2)[-2].strip()
