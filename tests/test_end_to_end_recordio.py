"""--format recordio through the CLI, read back with MXNet's own reader (by
key and by scan) and with ours: labels, pixels, keys, offsets, and the same
images in the same splits and order as the TFRecord shards."""

import hashlib
import io
import json
import os
import struct

import numpy as np
import pytest
from PIL import Image

from pipeline import main
from tests.conftest import HYMENOPTERA
from tests.conftest import download_prefix
from tests.conftest import needs_hymenoptera
from tests.mxnet_env import read_with_mxnet
from tests.records import read_labels
from tests.records import save_image
from transforms.example_proto import parse_example
from transforms.formats import recordio
from transforms.formats import tfrecord

# Per class, (width, height) of each image; every image has its own color.
CLASSES = {
    "ants": [(40, 30), (31, 17), (64, 48), (23, 40), (50, 50), (33, 21), (18, 18)],
    "bees": [(30, 40), (45, 25), (19, 33), (60, 20), (27, 27)],
    "wasps": [(41, 29), (22, 38), (36, 36), (52, 24)],
}
SPLITS = ("train", "validation")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """PNG images of one solid color each; returns (root, {relative path: (size, color)})."""
    root = tmp_path_factory.mktemp("recordio_in")
    images = {}
    for c, (label, sizes) in enumerate(CLASSES.items()):
        for n, size in enumerate(sizes):
            relative = f"{label}/{label}_{n}.png"
            color = (40 * c + 10, 30 * n + 5, 250 - 20 * n)
            save_image(str(root / relative), size=size, color=color, fmt="PNG")
            images[relative] = (size, color)
    return str(root), images


def _run(*args):
    assert main(list(args)) == 0


def _info(out):
    with open(os.path.join(out, "dataset_info.json"), encoding="utf-8") as f:
        return json.load(f)


def _shards(out):
    """[(split, shard entry)] of dataset_info.json, in split and shard order."""
    return [(split, entry) for split, info in sorted(_info(out)["splits"].items()) for entry in info["shards"]]


def _list(out, entry):
    """[(index, label id, path)] of a shard's .lst."""
    with open(os.path.join(out, entry["list_file"]), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return [(int(index), float(label), path) for index, label, path in rows]


def _index(out, entry):
    with open(os.path.join(out, entry["index_file"]), encoding="utf-8") as f:
        return [tuple(map(int, line.split("\t"))) for line in f]


def _payloads(out, entry):
    with open(os.path.join(out, entry["file"]), "rb") as f:
        return list(recordio.read_records(f))


def _read_all_with_mxnet(python, out):
    pairs = [(os.path.join(out, e["file"]), os.path.join(out, e["index_file"])) for _, e in _shards(out)]
    read = read_with_mxnet(python, pairs, out)
    return {os.path.basename(rec): records for rec, records in read.items()}


def test_mxnet_reads_every_record_by_key_and_by_scan(tree, tmp_path, mxnet_python, capsys):
    root, images = tree
    out = str(tmp_path / "out")
    _run(
        "--input",
        root,
        "--output",
        out,
        "--format",
        "recordio",
        "--validation_ratio",
        "0.25",
        "--num_shards",
        "2",
        "--image_format",
        "png",
    )
    assert "a .rec, .idx and .lst per shard" in capsys.readouterr().out
    labels = read_labels(out)
    assert labels == ["ants", "bees", "wasps"]
    shards = _shards(out)
    expected_files = {"labels.txt", "errors.jsonl", "duplicates.jsonl", "dataset_info.json"}
    for split, entry in shards:
        stem = entry["file"][: -len(".rec")]
        assert entry["file"].startswith(split + "-") and entry["file"].endswith(".rec")
        assert (entry["index_file"], entry["list_file"]) == (stem + ".idx", stem + ".lst")
        expected_files |= {entry["file"], entry["index_file"], entry["list_file"]}
    assert set(os.listdir(out)) == expected_files
    assert {split for split, _ in shards} == set(SPLITS) and len(shards) == 4

    read = _read_all_with_mxnet(mxnet_python, out)
    seen = []
    for _split, entry in shards:
        listed = _list(out, entry)
        records = read[entry["file"]]
        assert len(records["by_key"]) == len(listed) == entry["num_examples"] > 0
        # By key (in .idx order) and by scan: the same records, keys 0..n-1.
        assert [r["key"] for r in records["by_key"]] == list(range(len(listed)))
        assert [{k: v for k, v in r.items() if k != "key"} for r in records["by_key"]] == records["scan"]
        for (index, label, path), record in zip(listed, records["by_key"]):
            (width, height), color = images[path]
            assert record["header"] == [0, float(labels.index(path.split("/")[0])), index, 0]
            assert label == record["header"][1]
            assert record["shape"] == [height, width, 3]
            assert record["mean"] == list(color)  # PNG: exact, and RGB once cv2's BGR is undone
            solid = np.full((height, width, 3), color, dtype=np.uint8)
            assert record["pixels_sha256"] == hashlib.sha256(solid.tobytes()).hexdigest()
            seen.append(path)
        # Our reader sees the payloads MXNet does.
        assert [hashlib.sha256(p).hexdigest() for p in _payloads(out, entry)] == [r["sha256"] for r in records["scan"]]
    assert sorted(seen) == sorted(images)

    info = _info(out)
    assert info["format"] == "recordio" and "schema" not in info and "recordio" in info
    for _, entry in shards:
        data = open(os.path.join(out, entry["file"]), "rb").read()
        assert (entry["num_bytes"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_index_offsets_are_record_starts(tree, tmp_path):
    root, _ = tree
    out = str(tmp_path / "out")
    _run("--input", root, "--output", out, "--format", "recordio", "--num_shards", "3")
    for _, entry in _shards(out):
        data = open(os.path.join(out, entry["file"]), "rb").read()
        offsets, position = [], 0
        for payload in _payloads(out, entry):  # Where each record starts, from its framed size.
            offsets.append(position)
            position += len(recordio.frame(payload))
        assert position == len(data)
        assert _index(out, entry) == list(enumerate(offsets))
        for key, offset in _index(out, entry):
            magic, word = struct.unpack_from("<II", data, offset)
            assert magic == recordio.MAGIC and word >> 29 in (recordio.WHOLE, recordio.START)
            header, _ = recordio.unpack_header(next(recordio.read_records(io.BytesIO(data[offset:]))))
            assert header.id == key


def _tfrecord_shards(out):
    """{shard stem: [(filename, label, encoded)]} of the TFRecord run."""
    shards = {}
    for _, entry in _shards(out):
        with open(os.path.join(out, entry["file"]), "rb") as f:
            examples = [parse_example(r) for r in tfrecord.read_records(f.read())]
        shards[entry["file"][: -len(".tfrecord")]] = [
            (e["image/filename"][0].decode(), e["image/class/label"][0], e["image/encoded"][0]) for e in examples
        ]
    return shards


def test_same_images_splits_and_order_as_tfrecord(tree, tmp_path):
    root, _ = tree
    flags = [
        "--input",
        root,
        "--validation_ratio",
        "0.3",
        "--num_shards",
        "train=2,validation=1",
        "--image_size",
        "24",
        "--seed",
        "5",
    ]
    _run(*flags, "--output", str(tmp_path / "tf"))
    _run(*flags, "--output", str(tmp_path / "rec"), "--format", "recordio")
    expected = _tfrecord_shards(str(tmp_path / "tf"))
    got = {}
    for _, entry in _shards(str(tmp_path / "rec")):
        records = []
        for (index, label, path), payload in zip(
            _list(str(tmp_path / "rec"), entry), _payloads(str(tmp_path / "rec"), entry)
        ):
            header, encoded = recordio.unpack_header(payload)
            assert (header.id, header.label) == (index, label)
            records.append((path, int(header.label), encoded))
        got[entry["file"][: -len(".rec")]] = records
    assert got == expected
    assert sorted(got) == ["train-00000-of-00002", "train-00001-of-00002", "validation-00000-of-00001"]


def _files(out):
    return {name: open(os.path.join(out, name), "rb").read() for name in sorted(os.listdir(out))}


def test_reruns_are_identical_and_a_format_switch_leaves_no_stale_shards(tree, tmp_path):
    root, _ = tree
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    recordio_flags = ["--input", root, "--format", "recordio", "--num_shards", "2", "--color", "grayscale"]
    _run(*recordio_flags, "--output", first, "--decode_threads", "1")
    _run(*recordio_flags, "--output", second, "--decode_threads", "3")
    assert _files(first) == _files(second)

    _run("--input", root, "--output", first, "--num_shards", "3", "--overwrite")
    names = os.listdir(first)
    assert sum(n.endswith(".tfrecord") for n in names) == 3
    assert not [n for n in names if n.endswith((".rec", ".idx", ".lst"))]

    _run(*recordio_flags, "--output", first, "--overwrite")
    assert _files(first) == _files(second)


def test_recordio_on_s3(tree, s3_client, bucket, s3_flags, tmp_path):
    root, images = tree
    _run("--input", root, "--output", f"s3://{bucket}/out", "--format", "recordio", "--num_shards", "2", *s3_flags)
    names = download_prefix(s3_client, bucket, "out", str(tmp_path))
    assert sorted(names) == sorted(
        ["labels.txt", "errors.jsonl", "duplicates.jsonl", "dataset_info.json"]
        + [f"train-0000{i}-of-00002{suffix}" for i in (0, 1) for suffix in (".rec", ".idx", ".lst")]
    )
    paths = []
    for _, entry in _shards(str(tmp_path)):
        listed = _list(str(tmp_path), entry)
        payloads = _payloads(str(tmp_path), entry)
        assert [recordio.unpack_header(p)[0].id for p in payloads] == [i for i, _, _ in listed]
        paths += [path for _, _, path in listed]
    assert sorted(paths) == sorted(images)


@needs_hymenoptera
def test_hymenoptera_jpegs_read_back_with_mxnet(tmp_path, mxnet_python):
    out = str(tmp_path / "out")
    _run(
        "--input",
        HYMENOPTERA,
        "--output",
        out,
        "--format",
        "recordio",
        "--validation_ratio",
        "0.2",
        "--num_shards",
        "2",
        "--image_size",
        "96",
    )
    info = _info(out)
    assert read_labels(out) == ["ants", "bees"]
    read = _read_all_with_mxnet(mxnet_python, out)
    count = 0
    for _, entry in _shards(out):
        records = read[entry["file"]]
        assert records["scan"] == [{k: v for k, v in r.items() if k != "key"} for r in records["by_key"]]
        for (index, _label, path), payload, record in zip(_list(out, entry), _payloads(out, entry), records["by_key"]):
            assert record["header"] == [0, float(["ants", "bees"].index(path.split("/")[0])), index, 0]
            # The same JPEG as Pillow decodes it, within what two JPEG decoders differ by.
            pixels = np.asarray(Image.open(io.BytesIO(recordio.unpack_header(payload)[1])))
            assert record["shape"] == list(pixels.shape) and min(pixels.shape[:2]) <= 96
            assert np.allclose(record["mean"], pixels.reshape(-1, 3).mean(axis=0), atol=1.0)
            count += 1
    assert count == info["counts"]["written"] > 350
