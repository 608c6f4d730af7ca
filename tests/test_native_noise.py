"""libtiff's complaints about broken TIFFs stay off the command's stderr
(transforms/native_noise.py), while everything else still gets through."""

import csv
import io
import os
import re
import signal
import struct
import subprocess
import sys

from PIL import Image

from tests.conftest import NASTY
from tests.records import save_image
from transforms import native_noise
from transforms.native_noise import is_libtiff_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _broken_tiffs(folder):
    """Links to the nasty corpus's TIFFs that Pillow fails to decode."""
    os.makedirs(folder)
    with open(os.path.join(NASTY, "MANIFEST.csv"), newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["pil_format"] == "TIFF" and row["decode"] != "ok"]
    assert len(rows) >= 5, "the corpus has broken TIFFs"
    for row in rows:
        os.symlink(os.path.join(NASTY, row["path"]), os.path.join(folder, os.path.basename(row["path"])))
    return len(rows)


def _libtiff_lines(stderr):
    return [line for line in stderr.splitlines() if is_libtiff_line(line.encode())]


def test_libtiff_lines_do_not_reach_the_command_line(tmp_path):
    # One good image too: a run that writes nothing fails (exit 1).
    count = _broken_tiffs(str(tmp_path / "in" / "tiffs")) + 1
    save_image(str(tmp_path / "in" / "good" / "1.png"))
    args = ["--input", str(tmp_path / "in"), "--num_shards", "1"]
    # The same conversion without the filter: libtiff does print (else this test proves nothing).
    unfiltered = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pipeline import main; sys.exit(main(sys.argv[1:]))",
            *args,
            "--output",
            str(tmp_path / "a"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert unfiltered.returncode == 0 and len(_libtiff_lines(unfiltered.stderr)) >= 3, unfiltered.stderr
    command = subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--output", str(tmp_path / "b")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert command.returncode == 0, command.stderr
    assert _libtiff_lines(command.stderr) == [], command.stderr
    assert f"matched {count} = written" in command.stdout
    debug = subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--output", str(tmp_path / "c"), "--log_level", "DEBUG"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    # At DEBUG they are shown, each naming the TIFF (or TIFFs) being decoded when it came.
    assert re.search(
        rf"^DEBUG libtiff \(decoding {re.escape(str(tmp_path))}/in/tiffs/[^)]+\): (_tiff|TIFF)", debug.stderr, re.M
    )


def test_libtiff_line_shapes():
    assert is_libtiff_line(b"_tiffReadProc: Invalid Read at loc 4909, eof: 4682.")
    assert is_libtiff_line(b"TIFFFillStrip: Read error on strip 0; got 1 bytes, expected 10980.")
    assert is_libtiff_line(b"tempfile.tif: WEBP compression support is not configured.")
    assert not is_libtiff_line(b"converting: 10/20 files (50%), 3.0 files/s, ETA 3 s")
    assert not is_libtiff_line(b"im2tfrecord: error: the job failed: ValueError: x")
    assert not is_libtiff_line(b"Traceback (most recent call last):")


def test_stderr_on_a_terminal_stays_a_terminal_behind_the_filter():
    """The filter puts a pipe on fd 2; the progress line asks whether the real
    stderr is a terminal (to redraw in place), and must hear yes."""
    code = (
        "import sys; from transforms import native_noise; native_noise.quiet_libtiff(); "
        "print(sys.stderr.isatty(), native_noise.stderr_is_terminal())"
    )
    leader, follower = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], stderr=follower, stdout=subprocess.PIPE, text=True, cwd=ROOT, timeout=60
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert result.stdout.split() == ["False", "True"]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.split() == ["False", "False"]


def test_a_process_whose_pipe_another_holds_exits_at_once_with_its_last_line():
    """Another process holds the filter's pipe for as long as the command
    lives (multiprocessing's resource tracker inherits fd 2), so the pipe's
    end of file never comes before the exit: the forwarder stops at the
    process's end marker instead. Here the drain bound is an hour and a
    child holds the pipe for 10 minutes: a filter waiting for the end of
    file hangs the process past the 10 s timeout (a healthy one exits in
    about 0.2 s); one that drops the last line
    fails the assertion (each run of the command waited 2 s, its bound)."""
    code = (
        "import subprocess, sys; from transforms import native_noise; "
        "native_noise._DRAIN_TIMEOUT_S = 3600; native_noise.quiet_libtiff(); "
        "holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
        "stdout=subprocess.DEVNULL, start_new_session=True); print(holder.pid, flush=True); "
        "sys.stderr.write('progress 10%\\r' + 'the last line\\n')"
    )
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=10)
    except subprocess.TimeoutExpired as e:
        os.kill(int(e.stdout), signal.SIGKILL)
        raise
    os.kill(int(result.stdout), signal.SIGKILL)
    assert (result.returncode, result.stderr) == (0, b"progress 10%\rthe last line\n")


def test_what_comes_in_the_read_of_the_end_marker_is_passed_on_and_after_it_nothing():
    """The end marker often comes in the same read as the last line."""
    source, sink = os.pipe(), os.pipe()
    os.write(source[1], b"the last line\n" + native_noise._end_marker(os.getpid()) + b"after the end\n")
    native_noise._forward(source[0], sink[1])  # Returns at the marker: the pipe is still open.
    os.close(source[1])
    os.close(sink[1])
    assert os.read(sink[0], 1000) == b"the last line\n"
    os.close(sink[0])


def _tiff_with_a_bad_resolution_unit(path):
    """An LZW TIFF (decoded by libtiff) whose ResolutionUnit tag holds 12291:
    libtiff warns "_TIFFVSetField: ...: Bad value 12291 for "ResolutionUnit"
    tag", and the image decodes all the same."""
    data = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(data, format="TIFF", compression="tiff_lzw", dpi=(72, 72))
    data = bytearray(data.getvalue())
    assert data[:2] == b"II"
    ifd = struct.unpack("<I", data[4:8])[0]
    for entry in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * entry
        if struct.unpack("<H", data[at : at + 2])[0] == 296:  # ResolutionUnit, a SHORT held in the entry.
            data[at + 8 : at + 10] = struct.pack("<H", 12291)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_libtiff_lines_in_any_case_are_kept_off_and_name_their_file_at_debug(tmp_path):
    tiff = _tiff_with_a_bad_resolution_unit(str(tmp_path / "in" / "tiffs" / "units.tif"))
    save_image(str(tmp_path / "in" / "good" / "1.png"))
    args = [sys.executable, "-m", "pipeline", "--input", str(tmp_path / "in"), "--num_shards", "1"]
    quiet = subprocess.run([*args, "--output", str(tmp_path / "a")], cwd=ROOT, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    assert "ResolutionUnit" not in quiet.stderr and "_TIFFVSetField" not in quiet.stderr, quiet.stderr
    assert "matched 2 = written 2 + failed 0" in quiet.stdout  # Written, so no error row either.
    debug = subprocess.run(
        [*args, "--output", str(tmp_path / "b"), "--log_level", "DEBUG"], cwd=ROOT, capture_output=True, text=True
    )
    named = [line for line in debug.stderr.splitlines() if "_TIFFVSetField" in line]
    assert named and all(line.startswith(f"DEBUG libtiff (decoding {tiff}): _TIFFVSetField: ") for line in named), (
        named or debug.stderr
    )
    assert "\x1e" not in debug.stderr  # The markers that name the file are never shown.


def _marker(sign, token, path=None):
    return b"\x1eim2tfrecord-decoding " + sign + token + (b" " + path if path else b"") + b"\n"


def test_a_libtiff_line_is_named_by_the_decodes_under_way_when_it_ended_in_the_order_bytes_came():
    """The filter reads the pipe in chunks; a decode's end marker often comes
    in the same read as its line (a CI run once named the last line of four
    by nothing, the end marker having been applied first)."""
    line = b'_TIFFVSetField: tempfile.tif: Bad value 12291 for "ResolutionUnit" tag.\n'
    decoding = {}
    kept, rest = native_noise._filter(
        _marker(b"+", b"1.1", b"/in/a.tif") + line + _marker(b"-", b"1.1"), decoding, True
    )
    assert (kept, rest, decoding) == (b"DEBUG libtiff (decoding /in/a.tif): " + line, b"", {})
    # A line in two pieces with another thread's start in its middle: named by both.
    first, second = line[:20], line[20:]
    chunks = [_marker(b"+", b"1.1", b"/in/a.tif") + first, _marker(b"+", b"1.2", b"/in/b.tif") + second + b"plain\n"]
    pending, shown = b"", b""
    for chunk in chunks:
        kept, pending = native_noise._filter(pending + chunk, decoding, True)
        shown += kept
    assert shown == b"DEBUG libtiff (decoding /in/a.tif or /in/b.tif): " + line + b"plain\n"
    # Not at DEBUG: the line is dropped, other text passes unchanged, a
    # marker cut by the end of a read waits for the rest.
    kept, rest = native_noise._filter(line + b"progress 10%\r" + _marker(b"-", b"1.1")[:9], decoding, False)
    assert (kept, rest) == (b"progress 10%\r", _marker(b"-", b"1.1")[:9])


def test_libtiff_line_shapes_in_either_case():
    assert is_libtiff_line(b'_TIFFVSetField: tempfile.tif: Bad value 12291 for "ResolutionUnit" tag.')
    assert is_libtiff_line(b"_tiffMapProc: x")
    assert not is_libtiff_line(b"_tif: not a function name")


def test_drain_puts_what_came_before_on_the_real_stderr_first(tmp_path):
    """A line on stderr then a report on stdout, into one log: without the
    drain the filter's thread passes the line on later, in or after the
    report (seen: the progress line's last reading in the middle of the
    summary). 2,000 pairs, each stderr line drained before its stdout line
    (with 200, the thread once kept up with all of them undrained)."""
    code = (
        "import sys; from transforms import native_noise; native_noise.quiet_libtiff()\n"
        "for n in range(2000):\n"
        "    sys.stderr.write(f'err {n}\\n'); native_noise.drain()\n"
        "    sys.stdout.write(f'out {n}\\n'); sys.stdout.flush()\n"
    )
    with open(tmp_path / "log", "wb") as log:
        result = subprocess.run([sys.executable, "-c", code], stdout=log, stderr=log, cwd=ROOT, timeout=60)
    assert result.returncode == 0
    lines = (tmp_path / "log").read_text().splitlines()
    assert lines == [f"{stream} {n}" for n in range(2000) for stream in ("err", "out")]
