"""A run killed with SIGKILL mid-write leaves nothing partial under a final
name, and a rerun produces exactly what an uninterrupted run does."""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import assert_same_files
from tests.conftest import stderr_lines
from tests.records import save_image
from transforms.formats import tfrecord
from transforms.layout import parse_shard_name
from transforms.resume import DONE_PREFIX as RESUME_PREFIX
from transforms.storage import is_temporary

_WAIT_S = 120


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("killed")
    for label in ("a", "b"):
        for n in range(150):
            save_image(
                str(root / label / f"{n:03d}.png"),
                size=(300, 200),
                color=(n, 255 - n, 40 if label == "a" else 200),
                fmt="PNG",
            )
    # Copies across classes: the rerun's duplicates.jsonl must still name the
    # copies in reused shards (their hashes are in the resume records).
    for n in (3, 50, 97, 140):
        shutil.copyfile(root / "a" / f"{n:03d}.png", root / "b" / f"copy-{n:03d}.png")
    return str(root)


def _command(tree, out, num_shards=4, *flags):
    # One decode at a time keeps the run long enough to be caught mid-write.
    return [
        sys.executable,
        "-m",
        "pipeline",
        "--input",
        tree,
        "--output",
        out,
        "--num_shards",
        str(num_shards),
        "--decode_threads",
        "1",
        "--image_format",
        "png",
        *flags,
    ]


def _freeze_when(process, out, ready):
    """Stops the run (SIGSTOP) at the first look at `out` where `ready(names)`
    holds. Each look is taken with the run stopped (waitpid reports the stop
    once every thread has stopped), so what was seen is what a SIGKILL leaves."""
    deadline = time.monotonic() + _WAIT_S
    while True:
        assert time.monotonic() < deadline, "the run was never caught in the state looked for"
        os.kill(process.pid, signal.SIGSTOP)
        _, status = os.waitpid(process.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            process.returncode = os.waitstatus_to_exitcode(status)
            raise AssertionError("the run ended before it was caught")
        if ready(os.listdir(out) if os.path.isdir(out) else []):
            return
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.02)


def _one_done_another_writing(names):
    """A shard complete (in place, with its resume record) while another is
    still being written (a temporary, or in place without its record)."""
    done = {n[len(RESUME_PREFIX) : -len(".json")] for n in names if n.startswith(RESUME_PREFIX)}
    in_place = {n for n in names if parse_shard_name(n)}
    return bool(done & in_place) and (any(is_temporary(n) for n in names) or bool(in_place - done))


def test_sigkill_mid_write_then_rerun(tree, tmp_path):
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    # 8 shards, written two at a time: for most of the writing a complete
    # shard stands beside one still being written.
    command = functools.partial(_command, tree, num_shards=8)
    process = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _freeze_when(process, killed, _one_done_another_writing)
    finally:
        process.kill()  # SIGKILL; none if the run had already ended.
        process.wait()

    left = os.listdir(killed)
    assert "dataset_info.json" not in left
    in_place = {}
    for name in left:
        if parse_shard_name(name):
            with open(os.path.join(killed, name), "rb") as f:
                in_place[name] = f.read()
            list(tfrecord.read_records(in_place[name]))  # Every record's crc checks.
    assert in_place, sorted(left)

    subprocess.run(command(killed), check=True, capture_output=True)
    subprocess.run(command(clean), check=True, capture_output=True)
    for name, data in in_place.items():  # Complete: all of an uninterrupted run's bytes.
        with open(os.path.join(clean, name), "rb") as f:
            assert data == f.read(), name
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
    lines = stderr_lines(err)
    assert lines == [
        f"im2tfrecord: error: interrupted by {signal.Signals(signum).name}; nothing partial is left under a final name"
    ], err[-2000:]
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
    complete = [n[len(RESUME_PREFIX) : -len(".json")] for n in os.listdir(out) if n.startswith(RESUME_PREFIX)]
    assert complete and "dataset_info.json" not in os.listdir(out)
    return complete


def _inodes(out, names):
    return {name: os.stat(os.path.join(out, name)).st_ino for name in names}


def test_rerun_after_a_kill_reuses_the_complete_shards(tree, tmp_path):
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    complete = _kill_after_a_complete_shard(tree, killed)
    before = _inodes(killed, complete)
    rerun = subprocess.run(_command(tree, killed), check=True, capture_output=True, text=True)
    subprocess.run(_command(tree, clean), check=True, capture_output=True)
    assert_same_files(clean, killed)  # No resume record left.
    # The complete shards were kept, not converted and written again (a new
    # file would have a new inode: shards are written beside and renamed).
    assert _inodes(killed, complete) == before
    # And the summary says so, with the kept shards' own record counts.
    with open(os.path.join(clean, "dataset_info.json")) as f:
        sizes = {s["file"]: s["num_examples"] for split in json.load(f)["splits"].values() for s in split["shards"]}
    kept = sum(sizes[name] for name in complete)
    shards = f"{len(complete)} shard" + ("" if len(complete) == 1 else "s")
    images = f"{kept} image" + ("" if kept == 1 else "s")
    assert (
        f"  resumed: {shards} ({images}) complete from an earlier run (interrupted, or its parts) were verified "
        "and kept; the rest were converted"
    ) in rerun.stdout.splitlines()


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
    assert_same_files(clean, killed)  # No resume record left.
    assert _inodes(killed, [damaged]) != before


def test_a_rerun_with_another_resize_filter_converts_every_shard_again(tree, tmp_path):
    # The resume key hashes the run's description, which names the filter: a
    # complete bicubic shard must not be kept in a lanczos dataset.
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    complete = _kill_after_a_complete_shard(tree, killed)
    before = _inodes(killed, complete)
    lanczos = ("--resize_filter", "lanczos")
    rerun = subprocess.run(_command(tree, killed, 4, *lanczos), check=True, capture_output=True, text=True)
    subprocess.run(_command(tree, clean, 4, *lanczos), check=True, capture_output=True)
    assert_same_files(clean, killed)  # No resume record left.
    after = _inodes(killed, complete)  # Written again, not kept (see above).
    assert all(after[name] != before[name] for name in complete)
    assert not any(line.startswith("  resumed:") for line in rerun.stdout.splitlines())
