"""A local run whose shards are written by processes of their own gives every
byte a run in the launcher's process gives: the real photo set and the nasty
corpus (its error rows too), each run a fresh CLI process with its own hash
seed."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import HYMENOPTERA
from tests.conftest import NASTY
from tests.conftest import needs_hymenoptera
from tests.conftest import needs_nasty
from tests.records import read_errors
from tests.records import read_examples
from tests.records import shard_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_IN_PROCESSES = "transforms.shard_processes:writing shards in 2 processes of their own"


def _convert(source, out, processes, hash_seed, *flags):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--input", source, "--output", str(out)]
        + ["--processes", str(processes), "--log_level", "INFO", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONHASHSEED=str(hash_seed)),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def _file_hashes(folder):
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(folder))
        if not name.startswith(".")
    }


@needs_hymenoptera
def test_photos_in_processes_are_byte_identical(tmp_path):
    flags = ("--validation_ratio", "0.2", "--num_shards", "train=3,validation=1", "--image_size", "96")
    log = _convert(HYMENOPTERA, tmp_path / "processes", 2, 1, *flags)
    assert _IN_PROCESSES in log
    log = _convert(HYMENOPTERA, tmp_path / "own", 1, 2, *flags)
    assert "shard_processes" not in log
    processes = _file_hashes(tmp_path / "processes")
    assert processes == _file_hashes(tmp_path / "own")
    # 4 shards, labels.txt, errors.jsonl, duplicates.jsonl, dataset_info.json.
    assert len(processes) == 8
    out = tmp_path / "processes"
    records = read_examples(shard_paths(out) + shard_paths(out, "validation"))
    assert len(records) == 398  # Every file, the GIF placeholder included.
    assert read_errors(out) == []


@needs_nasty
def test_nasty_corpus_in_processes_gives_the_same_records_and_error_rows(tmp_path):
    flags = ("--num_shards", "2", "--label_from", "top")
    log = _convert(NASTY, tmp_path / "processes", 2, 3, *flags)
    assert _IN_PROCESSES in log
    _convert(NASTY, tmp_path / "own", 1, 4, *flags)
    assert _file_hashes(tmp_path / "processes") == _file_hashes(tmp_path / "own")
    errors = read_errors(tmp_path / "processes")
    records = read_examples(shard_paths(tmp_path / "processes"))
    assert len(errors) > 50 and len(records) > 300
    assert {row["reason"] for row in errors} == {"decode_error", "too_large"}


LARGE = os.path.join(os.path.dirname(HYMENOPTERA), "large", "camera_exif")


@needs_hymenoptera
@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_stops_a_shard_midway(tmp_path, processes):
    # 224 camera photos in one shard: seconds of work, so the signal comes
    # while it is being written. Before stopping.py, the first signal let the
    # shard run to its end, under its final name, before the process exited.
    source = tmp_path / "in" / "camera"
    source.mkdir(parents=True)
    for k in range(16):
        for name in sorted(os.listdir(LARGE)):
            os.symlink(os.path.join(LARGE, name), source / f"{k}_{name}")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--input", str(tmp_path / "in"), "--output", str(out)]
        + ["--num_shards", "1", "--processes", str(processes)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        # Below this test's priority: on a busy machine (CI's other pytest
        # process) the watching loop was once starved until the shard was done.
        preexec_fn=lambda: os.nice(10),
    )
    # The shard's own temporary, not the run marker's or a progress record's.
    shard_temporary = ".train-00000-of-00001.tfrecord.inprogress"
    try:
        while not any(name.startswith(shard_temporary) for name in (os.listdir(out) if out.exists() else [])):
            assert process.poll() is None, process.stderr.read()[-2000:]
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, stderr[-2000:]
    assert "interrupted by SIGTERM" in stderr
    assert "train-00000-of-00001.tfrecord" not in os.listdir(out)
    assert not any(name.endswith(".tfrecord") for name in os.listdir(out))
