"""Shard-writing processes: the same bytes as the worker's own process, the
failures of a shard reported as lines, a dead process named, and no process
left behind when the launcher dies."""

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.records import read_examples
from tests.records import save_image
from transforms import formats
from transforms import metrics
from transforms.converting import Concurrency
from transforms.imaging import ImageSettings
from transforms.progress_records import is_progress_record
from transforms.shard_processes import ShardProcessError
from transforms.shard_processes import ShardProcesses
from transforms.shard_processes import per_process
from transforms.shard_processes import started_early
from transforms.shard_stream import ShardImage
from transforms.shard_stream import ShardSettings
from transforms.shard_stream import ShardStreamWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["a", "b"]


def _shards(root, shards, per_shard):
    out = []
    for s in range(shards):
        images = []
        for n in range(per_shard):
            relative = f"{'ab'[n % 2]}/{s}_{n}.jpg"
            path = save_image(str(root / relative), size=(40 + n, 30 + s), fmt="JPEG")
            # Orders unlike the listing's, so a writer that ignored them would differ.
            images.append(ShardImage((n * 7919) % per_shard, relative, path, relative[0]))
        out.append((("train", s, shards), images))
    return out


def _settings(out, name="tfrecord"):
    record_format = formats.get(name)
    return ShardSettings(
        output=str(out),
        record_format=record_format,
        schema="default" if record_format.has_schema else None,
        image_settings=ImageSettings(image_size=24),
        s3_client_settings={},
    )


def _files(folder):
    """{name: sha256} of the dataset's files in `folder` (not the writers'
    progress records, test_progress_records.py's business)."""
    names = sorted(name for name in os.listdir(folder) if not is_progress_record(name))
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}


@pytest.mark.parametrize("name", ["tfrecord", "recordio"])
def test_processes_write_the_bytes_of_the_own_process(tmp_path, name):
    shards = _shards(tmp_path / "in", 5, 9)
    metrics.reset()
    pool = ShardProcesses(_settings(tmp_path / "pool", name), Concurrency(2, 2, processes=2))
    try:
        written = []
        for shard in shards:
            written += pool.write(shard, CLASSES)
        written += pool.finish()
        # Every image the processes wrote reached this process's progress count.
        assert metrics.snapshot() == (0, 45)
    finally:
        pool.close()
    assert metrics.snapshot() == (0, 45)  # Kept once the processes are gone.

    own = ShardStreamWriter(_settings(tmp_path / "own", name), Concurrency(2, 2))
    expected = [own.write(shard, CLASSES) for shard in shards]
    own.close()
    assert sorted(w.info.file for w in written) == [w.info.file for w in expected]
    assert sorted(written, key=lambda w: w.info.index) == expected
    assert _files(tmp_path / "pool") == _files(tmp_path / "own")
    assert len(_files(tmp_path / "pool")) == (5 if name == "tfrecord" else 15)
    if name == "tfrecord":
        records = read_examples([str(tmp_path / "pool" / "train-00002-of-00005.tfrecord")])
        order = sorted(shards[2][1], key=lambda image: (image.order, image.relative_path))
        assert [r["image/filename"].decode() for r in records] == [image.relative_path for image in order]


def test_a_failing_shard_is_one_line_and_the_process_goes_on(tmp_path):
    shards = _shards(tmp_path / "in", 2, 3)
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    pool = ShardProcesses(_settings(blocker / "out"), Concurrency(1, 1, processes=1))
    try:
        with pytest.raises(ShardProcessError) as raised:
            pool.write(shards[0], CLASSES)
            pool.finish()
        assert str(raised.value).startswith(("NotADirectoryError: ", "FileNotFoundError: "))
        assert "\n" not in str(raised.value)
    finally:
        pool.close()


def test_a_process_that_dies_is_named(tmp_path):
    (shard,) = _shards(tmp_path / "in", 1, 2)
    fifo = tmp_path / "in" / "a" / "blocks.jpg"
    os.mkfifo(fifo)  # Reading it waits for a writer that never comes.
    key, images = shard
    images.append(ShardImage(-1, "a/blocks.jpg", str(fifo), "a"))
    pool = ShardProcesses(_settings(tmp_path / "out"), Concurrency(1, 1, processes=1))
    try:
        assert pool.write((("validation", 3, 7), images), CLASSES) == []
        (child,) = multiprocessing.active_children()
        os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(ShardProcessError) as raised:
            pool.finish()
        assert str(raised.value) == "the process writing shard 4 of 7 of validation died (exit code -9)"
    finally:
        pool.close()
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


_PARENT = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    from tests.test_shard_processes import _settings
    from transforms.converting import Concurrency
    from transforms.shard_processes import ShardProcesses
    from transforms.shard_stream import ShardImage
    import multiprocessing, pathlib
    if __name__ == "__main__":
        fifo = {fifo!r}
        pool = ShardProcesses(_settings(pathlib.Path({out!r})), Concurrency(1, 1, processes=2))
        pool.write((("train", 0, 1), [ShardImage(0, "a/x.jpg", fifo, "a")]), ["a"])
        print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
        time.sleep(600)
    """
)


def test_no_process_outlives_a_killed_launcher(tmp_path):
    fifo = tmp_path / "blocks.jpg"
    os.mkfifo(fifo)
    script = tmp_path / "parent.py"
    script.write_text(_PARENT.format(root=ROOT, fifo=str(fifo), out=str(tmp_path / "out")))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(children) == 2
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in children)
    finally:
        parent.kill()
        parent.stdout.close()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_each_process_gets_its_share_of_the_threads():
    assert per_process(Concurrency(2, 2, processes=2)) == Concurrency(1, 1, 1)
    assert per_process(Concurrency(16, 2, processes=2)) == Concurrency(8, 1, 1)
    assert per_process(Concurrency(16, 8, processes=2)) == Concurrency(8, 4, 1)
    assert per_process(Concurrency(1, 1, processes=4)) == Concurrency(1, 1, 1)


def _shard_children():
    return sorted(p.pid for p in multiprocessing.active_children() if p.name == "im2tfrecord-shards")


def _wait_for(predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_processes_started_early_write_the_run_and_end_with_it(tmp_path):
    """The processes a run starts while it plans are the ones its write stage
    uses (no second set), and write the same bytes as the own process."""
    shards = _shards(tmp_path / "in", 3, 5)
    concurrency = Concurrency(2, 2, processes=2)
    metrics.reset()
    with started_early(concurrency, after_matched=4):
        metrics.add_matched(3)
        time.sleep(0.3)
        assert _shard_children() == []  # Not before the listing has found enough.
        metrics.add_matched(1)
        _wait_for(lambda: len(_shard_children()) == 2)
        early = _shard_children()
        pool = ShardProcesses(_settings(tmp_path / "pool"), concurrency)
        try:
            assert _shard_children() == early
            written = [w for shard in shards for w in pool.write(shard, CLASSES)] + pool.finish()
        finally:
            pool.close()
    assert len(written) == 3
    own = ShardStreamWriter(_settings(tmp_path / "own"), Concurrency(2, 2))
    for shard in shards:
        own.write(shard, CLASSES)
    own.close()
    assert _files(tmp_path / "pool") == _files(tmp_path / "own")
    assert _shard_children() == []


def test_processes_started_early_and_never_used_end_with_the_run():
    metrics.reset()
    with started_early(Concurrency(2, 2, processes=2), after_matched=1):
        metrics.add_matched(1)
        _wait_for(lambda: len(_shard_children()) == 2)
        pids = _shard_children()
    assert _shard_children() == []
    assert not any(_alive(pid) for pid in pids)
    metrics.reset()


def test_an_early_process_that_died_is_not_given_shards(tmp_path):
    """One of the processes started early dies before the write stage: the
    stage starts a fresh set and writes every shard."""
    shards = _shards(tmp_path / "in", 2, 3)
    concurrency = Concurrency(2, 2, processes=2)
    metrics.reset()
    with started_early(concurrency, after_matched=1):
        metrics.add_matched(1)
        _wait_for(lambda: len(_shard_children()) == 2)
        early = _shard_children()
        os.kill(early[0], signal.SIGKILL)
        _wait_for(lambda: not _alive(early[0]))
        pool = ShardProcesses(_settings(tmp_path / "pool"), concurrency)
        try:
            assert not set(_shard_children()) & set(early)
            written = [w for shard in shards for w in pool.write(shard, CLASSES)] + pool.finish()
        finally:
            pool.close()
    assert sorted(w.info.num_examples for w in written) == [3, 3]
    assert _shard_children() == []
