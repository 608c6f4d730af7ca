"""A run killed with SIGKILL mid-write leaves nothing partial under a final
name, and a rerun produces exactly what an uninterrupted run does."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.records import save_image
from transforms import tfrecord
from transforms.layout import parse_shard_name
from transforms.resume import DONE_PREFIX as RESUME_PREFIX
from transforms.storage import is_temporary

_WAIT_S = 120


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("killed")
    for label in ("a", "b"):
        for n in range(150):
            save_image(str(root / label / f"{n:03d}.png"), size=(300, 200),
                       color=(n, 255 - n, 40 if label == "a" else 200), fmt="PNG")
    return str(root)


def _command(tree, out):
    # One decode at a time keeps the run long enough to be caught mid-write.
    return [sys.executable, "-m", "pipeline", "--input", tree, "--output", out, "--num_shards", "4",
            "--decode_threads", "1", "--image_format", "png"]


def test_sigkill_mid_write_then_rerun(tree, tmp_path):
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    process = subprocess.Popen(_command(tree, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + _WAIT_S
    while not (os.path.isdir(killed) and any(is_temporary(n) for n in os.listdir(killed))):
        assert process.poll() is None, "the run ended before it was caught writing"
        assert time.monotonic() < deadline, "no shard was being written"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    left = os.listdir(killed)
    assert "dataset_info.json" not in left
    for name in left:
        if parse_shard_name(name):  # A shard under its final name is complete.
            with open(os.path.join(killed, name), "rb") as f:
                list(tfrecord.read_records(f.read()))

    subprocess.run(_command(tree, killed), check=True, capture_output=True)
    subprocess.run(_command(tree, clean), check=True, capture_output=True)
    assert sorted(os.listdir(killed)) == sorted(os.listdir(clean))
    for name in os.listdir(clean):
        with open(os.path.join(killed, name), "rb") as a, open(os.path.join(clean, name), "rb") as b:
            assert a.read() == b.read(), name


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_write_stops_with_one_line(signum, code, tree, tmp_path):
    out = str(tmp_path / "out")
    process = subprocess.Popen(_command(tree, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + _WAIT_S
    while not (os.path.isdir(out) and any(is_temporary(n) for n in os.listdir(out))):
        assert process.poll() is None, "the run ended before it was caught writing"
        assert time.monotonic() < deadline, "no shard was being written"
        time.sleep(0.02)
    process.send_signal(signum)
    _, err = process.communicate(timeout=_WAIT_S)
    assert process.returncode == code
    lines = [line for line in err.strip().splitlines() if not line.startswith("progress: ")]
    assert lines == [f"im2tfrecord: error: interrupted by {signal.Signals(signum).name}; "
                     "nothing partial is left under a final name"], err[-2000:]
    left = os.listdir(out)
    assert "dataset_info.json" not in left
    for name in left:
        if parse_shard_name(name):
            with open(os.path.join(out, name), "rb") as f:
                list(tfrecord.read_records(f.read()))


def _kill_after_a_complete_shard(tree, out):
    """Runs until a shard is complete (its resume record is there), then
    SIGKILL; returns the complete shards' names."""
    process = subprocess.Popen(_command(tree, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + _WAIT_S
    done = []
    while not done:
        assert process.poll() is None, "the run ended before a shard was complete"
        assert time.monotonic() < deadline, "no shard was completed"
        time.sleep(0.02)
        done = [n for n in os.listdir(out) if n.startswith(RESUME_PREFIX)] if os.path.isdir(out) else []
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    complete = [n[len(RESUME_PREFIX):-len(".json")] for n in os.listdir(out) if n.startswith(RESUME_PREFIX)]
    assert complete and "dataset_info.json" not in os.listdir(out)
    return complete


def _assert_same_files(out, clean):
    assert sorted(os.listdir(out)) == sorted(os.listdir(clean))  # No resume record left.
    for name in os.listdir(clean):
        with open(os.path.join(out, name), "rb") as a, open(os.path.join(clean, name), "rb") as b:
            assert a.read() == b.read(), name


def _inodes(out, names):
    return {name: os.stat(os.path.join(out, name)).st_ino for name in names}


def test_rerun_after_a_kill_reuses_the_complete_shards(tree, tmp_path):
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    complete = _kill_after_a_complete_shard(tree, killed)
    before = _inodes(killed, complete)
    subprocess.run(_command(tree, killed), check=True, capture_output=True)
    subprocess.run(_command(tree, clean), check=True, capture_output=True)
    _assert_same_files(killed, clean)
    # The complete shards were kept, not converted and written again (a new
    # file would have a new inode: shards are written beside and renamed).
    assert _inodes(killed, complete) == before


def test_a_complete_shard_whose_bytes_changed_is_converted_again(tree, tmp_path):
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    damaged, *_ = _kill_after_a_complete_shard(tree, killed)
    with open(os.path.join(killed, damaged), "r+b") as f:  # Same size, other bytes.
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = _inodes(killed, [damaged])
    subprocess.run(_command(tree, killed), check=True, capture_output=True)
    subprocess.run(_command(tree, clean), check=True, capture_output=True)
    _assert_same_files(killed, clean)
    assert _inodes(killed, [damaged]) != before
