"""The shard writer under a runner's retry: a first attempt that dies midway
leaves nothing visible and emits nothing, so the retried attempt's outputs are
the only ones: no record duplicated or dropped."""

import os

import apache_beam as beam
import pytest

from tests.records import read_examples
from tests.records import save_image
from transforms import shard_writer
from transforms.decode import Concurrency
from transforms.imaging import ImageSettings
from transforms.split import Placed
from transforms.split import seeded_hash


class _Dies(Exception):
    pass


def _shard(root, count):
    images = []
    for n in range(count):
        relative = f"{'ab'[n % 2]}/{n}.png"
        path = save_image(str(root / relative), size=(20 + n, 16), fmt="PNG")
        images.append(Placed(seeded_hash(0, relative), relative, path, relative[0],
                             seeded_hash(0, relative, b"order")))
    return ("train", 0, 1), images


def _outputs(fn, shard):
    fn.start_bundle()
    outputs = list(fn.process(shard, ["a", "b"])) + list(fn.finish_bundle())
    return [o.value.value if isinstance(o.value, beam.utils.windowed_value.WindowedValue) else o.value
            for o in outputs]


def test_a_retried_shard_is_written_once(tmp_path, monkeypatch):
    shard = _shard(tmp_path / "in", 12)
    out = tmp_path / "out"
    fn = shard_writer._WriteShard(str(out), "default", ImageSettings(size=32), {}, Concurrency(2, 2))
    fn.setup()

    real_frame, calls = shard_writer.tfrecord.frame, []

    def dies_on_the_seventh_record(record):
        calls.append(1)
        if len(calls) == 7:
            raise _Dies("worker lost")
        return real_frame(record)

    monkeypatch.setattr(shard_writer.tfrecord, "frame", dies_on_the_seventh_record)
    with pytest.raises(_Dies):
        _outputs(fn, shard)
    assert not out.exists() or os.listdir(out) == []  # nothing visible, no temporaries

    monkeypatch.setattr(shard_writer.tfrecord, "frame", real_frame)
    outputs = _outputs(fn, shard)
    fn.teardown()
    (info,) = outputs
    assert info.num_examples == 12 and info.file == "train-00000-of-00001.tfrecord"
    filenames = [r["image/filename"].decode() for r in read_examples([str(out / info.file)])]
    assert sorted(filenames) == sorted(image.relative_path for image in shard[1])
