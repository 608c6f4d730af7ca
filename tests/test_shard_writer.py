"""The shard writer under a runner's retry: a first attempt that dies midway
leaves nothing visible and emits nothing, so the retried attempt's outputs are
the only ones: no record duplicated or dropped. For RecordIO, whose .idx and
.lst follow the .rec, a death between them is retried the same way."""

import json
import os

import apache_beam as beam
import pytest

from tests.records import read_examples
from tests.records import save_image
from transforms import formats
from transforms import shard_writer
from transforms.converting import Concurrency
from transforms.formats import recordio
from transforms.formats import tfrecord
from transforms.imaging import ImageSettings
from transforms.progress_records import is_progress_record
from transforms.shard_stream import ShardSettings
from transforms.split import Placed
from transforms.split import seeded_hash


class _Dies(Exception):
    pass


def _shard(root, count):
    images = []
    for n in range(count):
        relative = f"{'ab'[n % 2]}/{n}.png"
        path = save_image(str(root / relative), size=(20 + n, 16), fmt="PNG")
        images.append(Placed(seeded_hash(0, relative), relative, path, relative[0], seeded_hash(0, relative, b"order")))
    return ("train", 0, 1), images


def _bundle(fn, shard):
    """{tag: values} of what one bundle of `shard` emits."""
    fn.start_bundle()
    by_tag = {}
    for o in list(fn.process(shard, ["a", "b"])) + list(fn.finish_bundle()):
        value = o.value.value if isinstance(o.value, beam.utils.windowed_value.WindowedValue) else o.value
        by_tag.setdefault(o.tag, []).append(value)
    return by_tag


def _outputs(fn, shard):
    """The ShardInfos one bundle of `shard` emits."""
    return _bundle(fn, shard).get(shard_writer.SHARDS, [])


def _dies_on_call(real, number):
    calls = []

    def dies(*args):
        calls.append(1)
        if len(calls) == number:
            raise _Dies("worker lost")
        return real(*args)

    return dies


def _writer(out, name):
    record_format = formats.get(name)
    fn = shard_writer._WriteShard(
        ShardSettings(
            output=str(out),
            record_format=record_format,
            schema="default" if record_format.has_schema else None,
            image_settings=ImageSettings(image_size=32),
            s3_client_settings={},
        ),
        Concurrency(2, 2),
    )
    fn.setup()
    return fn


def _uninterrupted(out, name, shard):
    """{file: bytes} that a writer which never died writes for `shard`."""
    fn = _writer(out, name)
    outputs = _outputs(fn, shard)
    fn.teardown()
    assert len(outputs) == 1
    return {file: (out / file).read_bytes() for file in os.listdir(out)}


def _dataset_files(out):
    """The files in `out` but the writer's progress records (progress_records.py)."""
    return sorted(name for name in os.listdir(out) if not is_progress_record(name))


def _assert_same_bytes(out, expected):
    assert sorted(os.listdir(out)) == sorted(expected)
    for file, data in expected.items():
        assert (out / file).read_bytes() == data, file


def test_a_retried_shard_is_written_once(tmp_path, monkeypatch):
    shard = _shard(tmp_path / "in", 12)
    out = tmp_path / "out"
    fn = _writer(out, "tfrecord")

    real_frame = tfrecord.frame
    monkeypatch.setattr(tfrecord, "frame", _dies_on_call(real_frame, 7))
    with pytest.raises(_Dies):
        _outputs(fn, shard)
    assert not out.exists() or os.listdir(out) == []  # nothing visible, no temporaries

    monkeypatch.setattr(tfrecord, "frame", real_frame)
    by_tag = _bundle(fn, shard)
    fn.teardown()
    (info,) = by_tag[shard_writer.SHARDS]
    # Each record's hashes once, as its record: a duplicate report counts no retry twice.
    hashes = by_tag[shard_writer.HASHES]
    assert sorted(h.relative_path for h in hashes) == sorted(image.relative_path for image in shard[1])
    assert info.num_examples == 12 and info.file == "train-00000-of-00001.tfrecord"
    assert info.side_files is None and _dataset_files(out) == [info.file]
    # Its progress record says every image is finished (the retry started it again).
    record = out / ".im2tfrecord-progress-train-00000-of-00001.tfrecord.json"
    assert json.loads(record.read_text()) == {"finished": 12, "images": 12}
    filenames = [r["image/filename"].decode() for r in read_examples([str(out / info.file)])]
    assert sorted(filenames) == sorted(image.relative_path for image in shard[1])
    # Every record once, in its place: the bytes of a writer that never died.
    _assert_same_bytes(out, _uninterrupted(tmp_path / "uninterrupted", "tfrecord", shard))


def test_a_retried_recordio_shard_is_written_once(tmp_path, monkeypatch):
    shard = _shard(tmp_path / "in", 12)
    out = tmp_path / "out"
    fn = _writer(out, "recordio")

    real_frame = recordio.frame
    monkeypatch.setattr(recordio, "frame", _dies_on_call(real_frame, 7))
    with pytest.raises(_Dies):
        _outputs(fn, shard)
    assert not out.exists() or os.listdir(out) == []
    monkeypatch.setattr(recordio, "frame", real_frame)

    # Dies again once the .rec and .idx are in place, opening the .lst.
    real_open = fn._writer.storage.open_atomic

    def dies_opening_the_list(path):
        if path.endswith(".lst"):
            raise _Dies("worker lost")
        return real_open(path)

    monkeypatch.setattr(fn._writer.storage, "open_atomic", dies_opening_the_list)
    with pytest.raises(_Dies):
        _outputs(fn, shard)
    assert _dataset_files(out) == ["train-00000-of-00001.idx", "train-00000-of-00001.rec"]
    monkeypatch.setattr(fn._writer.storage, "open_atomic", real_open)

    (info,) = _outputs(fn, shard)
    fn.teardown()
    assert (info.num_examples, info.file, info.side_files) == (
        12,
        "train-00000-of-00001.rec",
        {"index_file": "train-00000-of-00001.idx", "list_file": "train-00000-of-00001.lst"},
    )
    assert _dataset_files(out) == sorted(info.files())
    with open(out / info.file, "rb") as f:
        payloads = list(recordio.read_records(f))
    listed = (out / "train-00000-of-00001.lst").read_text().splitlines()
    indexed = (out / "train-00000-of-00001.idx").read_text().splitlines()
    assert len(payloads) == len(listed) == len(indexed) == 12
    assert sorted(line.split("\t")[2] for line in listed) == sorted(i.relative_path for i in shard[1])
    assert [recordio.unpack_header(p)[0].id for p in payloads] == list(range(12))
    _assert_same_bytes(out, _uninterrupted(tmp_path / "uninterrupted", "recordio", shard))


def test_which_shards_go_to_shard_processes():
    def goes(concurrency, key, images):
        fn = shard_writer._WriteShard(
            ShardSettings(
                output="/out",
                record_format=formats.get("tfrecord"),
                schema="default",
                image_settings=ImageSettings(),
                s3_client_settings={},
            ),
            concurrency,
        )
        return fn._in_processes(key, [None] * images)

    auto = Concurrency(2, 2, processes=2, min_images_per_process=500)
    assert goes(auto, ("train", 0, 8), 600)
    assert not goes(auto, ("train", 0, 8), 499)  # Not worth a process's start.
    assert not goes(auto, ("train", 0, 1), 5000)  # Alone, one process would use one core.
    assert goes(auto, ("validation", 1, 2), 500)
    explicit = Concurrency(2, 2, processes=2)  # --processes 2: every shard.
    assert goes(explicit, ("train", 0, 1), 3)
    assert not goes(Concurrency(2, 2, processes=1), ("train", 0, 8), 5000)
