"""A local run whose shards are written by processes of their own gives every
byte a run in the launcher's process gives: the real photo set and the nasty
corpus (its error rows too), each run a fresh CLI process with its own hash
seed."""

import hashlib
import os
import subprocess
import sys

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
    # 4 shards, labels.txt, errors.jsonl, dataset_info.json.
    assert len(processes) == 7
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
