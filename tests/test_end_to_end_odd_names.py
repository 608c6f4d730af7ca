"""Odd object keys and folder names: every image is written or an error row,
labels are the folder names as data, and nothing is written outside --output."""

import json
import os

from pipeline import main
from tests.conftest import download_prefix
from tests.records import jpeg_bytes
from tests.records import read_errors
from tests.records import read_examples
from tests.records import read_labels
from tests.records import save_image
from tests.records import shard_paths

IMAGE = jpeg_bytes((24, 16))
ODD_IMAGES = [
    "ant s/a b.jpg",
    "ünïcödé/ü.jpg",
    "pct%20/x%2Fy.jpg",
    "plus+/a+b.jpg",
    "hash#/#1.jpg",
    "what?/q?.jpg",
    "[x]/b[1].jpg",
    "star*/s*.jpg",
    "deep/er/nest/n.jpg",
    "train/t.jpg",
    "long/" + "a" * 900 + ".jpg",
]


def test_odd_keys_on_s3(s3_client, bucket, s3_flags, tmp_path):
    for key in ODD_IMAGES:
        s3_client.put_object(Bucket=bucket, Key=f"in/{key}", Body=IMAGE)
    for key, body in (
        ("in/ants/", b""),
        ("in/ants/empty.jpg", b""),
        ("in/ants/.DS_Store", b"x"),
        ("in/ants/notes.txt", b"x"),
        ("in/ants/ok.jpg", IMAGE),
    ):
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    assert main(["--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", "--num_shards", "2", *s3_flags]) == 0

    everything = {
        item["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    }
    written_keys = {k for k in everything if not k.startswith("in/")}
    assert all(k.startswith("out/") for k in written_keys), written_keys
    download_prefix(s3_client, bucket, "out", str(tmp_path))
    records = read_examples(shard_paths(tmp_path))
    assert sorted(r["image/filename"].decode() for r in records) == sorted(ODD_IMAGES + ["ants/ok.jpg"])
    for record in records:
        assert record["image/class/text"].decode() == record["image/filename"].decode().split("/")[-2]
    assert read_labels(tmp_path) == sorted({key.split("/")[-2] for key in ODD_IMAGES} | {"ants"})
    assert [(e["path"], e["reason"]) for e in read_errors(tmp_path)] == [
        (f"s3://{bucket}/in/ants/empty.jpg", "empty_file")
    ]


def test_folder_names_are_data_not_paths(tmp_path):
    root = tmp_path / "in"
    for folder in ("..", "bad\nlabel", "tab\there", "..%2F..%2Fescape", "ok"):
        if folder == "..":
            continue  # Cannot be a folder; '..%2F..' is the encoded attempt below.
        save_image(str(root / folder / "1.jpg"))
    out = tmp_path / "out"
    assert main(["--input", str(root), "--output", str(out), "--num_shards", "1"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]
    # '..%2F..%2Fescape' starts with a dot: a hidden folder, skipped and counted.
    assert read_labels(out) == ["ok"]
    rejected = {os.path.relpath(e["path"], root): e["reason"] for e in read_errors(out)}
    assert rejected == {"bad\nlabel/1.jpg": "bad_label", "tab\there/1.jpg": "bad_label"}
    assert len(read_examples(shard_paths(out))) == 1
    with open(out / "dataset_info.json") as f:
        assert json.load(f)["counts"] == {"matched": 4, "written": 1, "failed": 2, "skipped": 1}


def test_names_that_are_not_utf8_are_error_rows_not_a_failed_job(tmp_path, capsys):
    # Bytes from another system's encoding (Latin-1 "café", "chât"): no
    # record can name them, so each such image is an error row naming it with
    # its odd bytes as \xNN; the rest of the run goes on (the whole job failed
    # on the first shuffle before), and files it skips are still skipped.
    root = tmp_path / "in"
    for name in (b"cats/ok.jpg", b"cats/caf\xe9.jpg", b"ch\xe2t/a.jpg", b"cats/notes\xe9.txt", b"cats/.h\xe9.jpg"):
        path = os.path.join(os.fsencode(root), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(IMAGE)
    out = tmp_path / "out"
    assert main(["--input", str(root), "--output", str(out)]) == 0
    assert "matched 5 = written 1 + failed 2 + skipped (not images, or hidden) 2" in capsys.readouterr().out
    rows = sorted((row["path"], row["reason"], row["stage"]) for row in read_errors(str(out)))
    assert rows == [
        (f"{root}/cats/caf\\xe9.jpg", "bad_file_name", "match"),
        (f"{root}/ch\\xe2t/a.jpg", "bad_file_name", "match"),
    ]
    records = read_examples(shard_paths(out))
    assert [(r["image/class/text"], r["image/filename"]) for r in records] == [(b"cats", b"cats/ok.jpg")]
