"""Keeps libtiff's messages about broken TIFFs off stderr.

Pillow decodes compressed TIFFs with libtiff, whose C handlers print every
complaint about a damaged file straight to file descriptor 2
("_tiffReadProc: Invalid Read at loc ...", "TIFFFillStrip: Read error ..."):
hundreds of lines on a corpus of scraped images, though the image itself then
ends up as an error row with its own reason. No Python API reaches those
handlers, so once per process stderr's descriptor is replaced by a pipe whose
reader drops libtiff's lines (shows them, prefixed, at --log_level DEBUG) and
copies every other byte to the real stderr unchanged.
"""

import atexit
import logging
import os
import re
import sys
import threading

# libtiff's handlers print "<module or file>: <message>"; these are the
# modules seen on damaged files (tif_*.c and Pillow's TiffDecode.c callbacks).
_LIBTIFF_LINE = re.compile(
    rb"^(?:_tiff\w+|TIFF\w+|\S+\.tiff?|LZW\w*|ZIP\w*|JPEG\w*|OJPEG\w*|Fax\w*|PackBits\w*|"
    rb"LogLuv\w*|PixarLog\w*|WEBP\w*|ZSTD\w*|LERC\w*|Predictor\w*|Fax3\w*): "
)

_COULD_BE_LIBTIFF = re.compile(rb"^[_A-Z][\w.]*(?::( |$)|$)")

_installed = False
_lock = threading.Lock()
_real_stderr = None  # The descriptor stderr had before the filter took fd 2 over.


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


def stderr_is_terminal():
    """Whether stderr reaches a terminal. Once the filter has taken fd 2 over,
    fd 2 is its pipe: the answer is the real stderr's."""
    try:
        return os.isatty(_real_stderr) if _real_stderr is not None else sys.stderr.isatty()
    except (OSError, ValueError, AttributeError):
        return False


# At exit, how long the last lines may take to get through (a child process
# that inherited the pipe keeps it open, so its end may never come).
_DRAIN_TIMEOUT_S = 2


def _restore(real, forwarder):
    """Puts the real stderr back, which ends the pipe, and lets the forwarder
    pass on what is still in it: the last line is often the one that matters."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(real, 2)
    forwarder.join(_DRAIN_TIMEOUT_S)


def _forward(read_end, real):
    with os.fdopen(read_end, "rb", buffering=0) as source:
        pending = b""
        while True:
            chunk = source.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = re.split(rb"(?<=[\r\n])", pending)
            # A live progress line ends in \r, or not at all yet: only what
            # could still become a libtiff line waits for its end.
            if pending and not _COULD_BE_LIBTIFF.match(pending):
                lines.append(pending)
                pending = b""
            # At DEBUG, libtiff's lines are shown with a prefix, written here
            # directly: logging them would write into this very pipe, which
            # only this thread drains.
            debug = logging.getLogger().isEnabledFor(logging.DEBUG)
            kept = [(b"DEBUG libtiff: " + line if debug else b"") if is_libtiff_line(line) else line for line in lines]
            _write_all(real, b"".join(kept))
        _write_all(real, pending)


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data) :]
