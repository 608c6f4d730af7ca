"""Keeps libtiff's messages about broken TIFFs off stderr.

Pillow decodes compressed TIFFs with libtiff, whose C handlers print every
complaint about a damaged file straight to file descriptor 2
("_tiffReadProc: Invalid Read at loc ...", "TIFFFillStrip: Read error ..."):
hundreds of lines on a corpus of scraped images, though the image itself then
ends up as an error row with its own reason. No Python API reaches those
handlers, so once per process stderr's descriptor is replaced by a pipe whose
reader drops libtiff's lines (shows them, prefixed, at --log_level DEBUG) and
copies every other byte to the real stderr unchanged.

libtiff's lines name no input ("tempfile.tif" is the name Pillow gives every
file), so the code that decodes a TIFF says which file it is (`naming`): a
marker written into the same pipe before and after the decode, by this
process or a shard process that inherited the pipe. The reader takes the
markers out and names, beside each libtiff line at DEBUG, the files being
decoded when it came: one file, or each of the few decoded at once.
"""

import atexit
import contextlib
import logging
import os
import re
import sys
import threading

# libtiff's handlers print "<module or file>: <message>"; these are the
# modules seen on damaged files (tif_*.c and Pillow's TiffDecode.c callbacks).
# The tif_*.c functions come in either case (_tiffReadProc, _TIFFVSetField).
_LIBTIFF_LINE = re.compile(
    rb"^(?:(?i:_?tiff)\w+|\S+\.tiff?|LZW\w*|ZIP\w*|JPEG\w*|OJPEG\w*|Fax\w*|PackBits\w*|"
    rb"LogLuv\w*|PixarLog\w*|WEBP\w*|ZSTD\w*|LERC\w*|Predictor\w*|Fax3\w*): "
)

# The markers `naming` writes: a byte no text line starts with, then "+<id>
# <path>" when a decode starts and "-<id>" when it ends, on one line of at
# most _MARKER_BYTES (one write() of at most PIPE_BUF bytes reaches a pipe
# whole, whatever other threads write).
_MARKER = b"\x1eim2tfrecord-decoding "
_MARKERS = re.compile(re.escape(_MARKER) + rb"(?P<sign>[+-])(?P<id>[\d.]+)(?: (?P<path>[^\n]*))?\n")
_MARKER_BYTES = 1024
# Set in the environment of a process whose fd 2 is the filter's pipe, and
# so inherited by the shard processes it starts, which write there too.
_FILTER_VARIABLE = "IM2TFRECORD_LIBTIFF_FILTER"
# The first bytes of a TIFF (little- and big-endian, classic and BigTIFF).
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

_COULD_BE_LIBTIFF = re.compile(rb"^[_A-Z][\w.]*(?::( |$)|$)")

_installed = False
_lock = threading.Lock()
_real_stderr = None  # The descriptor stderr had before the filter took fd 2 over.

# What `drain` writes into the pipe: a marker line the regex of the decoding
# markers does not match, so _filter passes it on whole, and _forward counts
# and drops it once what came before it is on the real stderr.
_DRAINED = _MARKER + b"=drained\n"
_drained = threading.Condition()
_drains_asked = 0
_drains_done = 0


def is_libtiff_line(line):
    return bool(_LIBTIFF_LINE.match(line))


def quiet_libtiff():
    """Installs the filter once per process (a no-op if stderr has no
    descriptor). For command-line entry points only: it takes over fd 2 for
    the life of the process, which a test runner capturing fd 2 must not see."""
    global _installed, _real_stderr
    with _lock:
        if _installed:
            return
        try:
            sys.stderr.flush()
            real = os.dup(2)
        except (OSError, ValueError):
            return
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        forwarder = threading.Thread(target=_forward, args=(read_end, real), name="libtiff-filter", daemon=True)
        forwarder.start()
        atexit.register(_restore, real, forwarder)
        _real_stderr = real
        _installed = True
        os.environ[_FILTER_VARIABLE] = "1"


# What `naming` returns for every file but a TIFF: nothing to do, nothing made.
_NOT_NAMED = contextlib.nullcontext()


def naming(path, data):
    """A context manager around the decode of `data`, the bytes of `path`:
    names `path` beside the libtiff lines the decode prints, if `data` is a
    TIFF and the filter reads this process's stderr; else does nothing."""
    if not data.startswith(_TIFF_MAGIC) or os.environ.get(_FILTER_VARIABLE) != "1":
        return _NOT_NAMED
    return _named(path)


@contextlib.contextmanager
def _named(path):
    token = f"{os.getpid()}.{threading.get_ident()}".encode()
    start = _MARKER + b"+" + token + b" " + path.encode("utf-8", "backslashreplace").replace(b"\n", b" ")
    _write_all(2, start[: _MARKER_BYTES - 1] + b"\n")
    try:
        yield
    finally:
        _write_all(2, _MARKER + b"-" + token + b"\n")


def drain(timeout_s=None):
    """Returns once what this process wrote to stderr so far is on the real
    stderr (at most `timeout_s`, by default _DRAIN_TIMEOUT_S, later): a line
    on stderr and a report on stdout then come in the order they were
    written. Never raises: the summary is printed whatever became of stderr."""
    global _drains_asked
    if not _installed:
        return
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    with _drained:
        _drains_asked += 1
        wanted = _drains_asked
    try:
        _write_all(2, _DRAINED)
    except OSError:  # The pipe's reader is gone: nothing to wait for.
        return
    with _drained:
        _drained.wait_for(lambda: _drains_done >= wanted, _DRAIN_TIMEOUT_S if timeout_s is None else timeout_s)


def stderr_is_terminal():
    """Whether stderr reaches a terminal. Once the filter has taken fd 2 over,
    fd 2 is its pipe: the answer is the real stderr's."""
    try:
        return os.isatty(_real_stderr) if _real_stderr is not None else sys.stderr.isatty()
    except (OSError, ValueError, AttributeError):
        return False


# At exit, how long the last lines may take to get through: a bound, in case
# the end marker never comes through (a child filling the pipe).
_DRAIN_TIMEOUT_S = 2


def _end_marker(pid):
    """What this process writes into the pipe last, at exit. Other processes
    hold the pipe's write end as long as this one lives (multiprocessing's
    resource tracker, started with the shard processes, inherits fd 2), so
    the pipe's own end of file comes only after the exit: waiting for it
    cost every run the whole _DRAIN_TIMEOUT_S (2.0 s measured)."""
    return _MARKER + b"!" + str(pid).encode() + b"\n"


def _restore(real, forwarder):
    """Puts the real stderr back and lets the forwarder pass on what is
    still in the pipe, up to this process's end marker: the last line is
    often the one that matters."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    try:
        _write_all(2, _end_marker(os.getpid()))
    except OSError:
        pass
    os.dup2(real, 2)
    forwarder.join(_DRAIN_TIMEOUT_S)


def _forward(read_end, real):
    decoding = {}  # Marker id -> the path being decoded.
    end = _end_marker(os.getpid())
    with os.fdopen(read_end, "rb", buffering=0) as source:
        pending = b""
        while True:
            chunk = source.read(65536)
            if not chunk:
                break
            # At DEBUG, libtiff's lines are shown with a prefix, written here
            # directly: logging them would write into this very pipe, which
            # only this thread drains.
            debug = logging.getLogger().isEnabledFor(logging.DEBUG)
            data = pending + chunk
            ends_at = data.find(end)  # Whole when found: _filter holds a marker back until its end.
            kept, pending = _filter(data if ends_at < 0 else data[:ends_at], decoding, debug)
            drains = kept.count(_DRAINED)
            _write_all(real, kept.replace(_DRAINED, b"") if drains else kept)
            if drains:
                _count_drains(drains)
            if ends_at >= 0:
                break
        _write_all(real, pending)


def _count_drains(n):
    global _drains_done
    with _drained:
        _drains_done += n
        _drained.notify_all()


def _filter(pending, decoding, debug):
    """(what to write to the real stderr, what waits for more bytes) from the
    bytes read so far; applies the markers to `decoding` in the order they
    came, so each libtiff line is named by the decodes under way when it
    ended (a decode's end marker often comes in the same read as its line)."""
    held = _start_of_marker(pending)  # A marker not all here yet waits for its end.
    ready, marker = pending[:held], pending[held:]
    kept = []
    # A libtiff line written in pieces may have another thread's marker in
    # its middle: the text between markers is joined before it is split.
    text = b""
    for part in _split_markers(ready):
        if isinstance(part, re.Match):
            lines, text = _complete_lines(text)
            kept.extend(_shown(line, decoding, debug) for line in lines)
            _note(part, decoding)
        else:
            text += part
    lines, rest = _complete_lines(text)
    # A live progress line ends in \r, or not at all yet: only what could
    # still become a libtiff line waits for its end.
    if rest and not _COULD_BE_LIBTIFF.match(rest):
        lines.append(rest)
        rest = b""
    kept.extend(_shown(line, decoding, debug) for line in lines)
    return b"".join(kept), rest + marker


def _split_markers(data):
    """The text between markers and the markers (as matches), in order."""
    at = 0
    for found in _MARKERS.finditer(data):
        yield data[at : found.start()]
        yield found
        at = found.end()
    yield data[at:]


def _complete_lines(text):
    """([each line that has its end], the unfinished rest)."""
    *lines, rest = re.split(rb"(?<=[\r\n])", text)
    return lines, rest


def _shown(line, decoding, debug):
    if not is_libtiff_line(line):
        return line
    return _debug_line(line, decoding) if debug else b""


def _start_of_marker(data):
    """Where the unfinished marker at the end of `data` starts; len(data) if none."""
    start = data.rfind(_MARKER[:1])
    if start < 0:
        return len(data)
    tail = data[start:]
    unfinished = b"\n" not in tail and (
        _MARKER.startswith(tail) if len(tail) < len(_MARKER) else tail.startswith(_MARKER)
    )
    return start if unfinished else len(data)


def _note(marker, decoding):
    """Applies one marker to `decoding`."""
    if marker["sign"] == b"+":
        decoding[marker["id"]] = marker["path"] or b"?"
    else:
        decoding.pop(marker["id"], None)


def _debug_line(line, decoding):
    files = b" or ".join(sorted(set(decoding.values())))
    return b"DEBUG libtiff" + (b" (decoding " + files + b")" if files else b"") + b": " + line


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data) :]
