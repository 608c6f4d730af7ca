"""A text file cut into byte ranges that different workers read, line by line.

Why: a manifest of 100 million rows streamed by one worker is hours of one
core while the cluster waits. Beam's ReadFromText splits files too, but it
ends lines only at `\\n` and `\\r\\n` (a bare `\\r` ends a line here, as in
Python's universal newlines, which the manifest reader always used) and it
gives no line numbers, which every error row names: hence ranges of our own.

The rule: a line belongs to the range its first byte lies in. Line starts
are byte 0 and every byte after a `\\n`, or after a `\\r` not followed by
`\\n`. A range's reader starts one byte early, drops what comes before its
first line start (the end of a line an earlier range owns) and reads past
its stop to finish the last line it owns. Every line is read by exactly one
range whatever the cut points; ranges count their lines, and a line's number
is its number in its range plus the lines of the ranges before it
(`LineOffsets`).

Ranges cut at line starts only, so a multi-byte UTF-8 character (no byte of
which is `\\r` or `\\n`) is never cut in two.
"""

import dataclasses
import math

# Bytes one worker reads from one range: about 50,000 rows of 80 bytes, a
# second or two of reading, small enough that a manifest of 100 MB is 24
# pieces for the cluster's slots, large enough that the ranges' bookkeeping
# (one ranged GET and one entry of LineOffsets a range) stays small.
RANGE_BYTES = 4 * 2**20
# Read size inside a range: a line longer than this is read in several.
_CHUNK_BYTES = 2**20
BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark (Excel writes one): only at byte 0.


@dataclasses.dataclass(frozen=True)
class ByteRange:
    """The lines that start in bytes [start, stop) of a file: the `index`th range."""

    index: int
    start: int
    stop: int


def byte_ranges(size, range_bytes=RANGE_BYTES):
    """The ranges a file of `size` bytes is read in: ceil(size / range_bytes)
    of them (one for an empty file), the last one shorter."""
    count = max(1, math.ceil(size / range_bytes))
    return [ByteRange(index, index * range_bytes, min((index + 1) * range_bytes, size)) for index in range(count)]


def lines_in_range(open_read, byte_range):
    """Yields (byte offset, line) for each line (bytes, with its terminator)
    that starts in `byte_range`; `open_read(start)` gives a binary stream of
    the file from byte `start`."""
    start, stop = byte_range.start, byte_range.stop
    if start >= stop:
        return
    with open_read(max(start - 1, 0)) as stream:
        pieces = _pieces(stream, max(start - 1, 0))
        if start > 0:
            next(pieces, None)  # From the byte before `start` to the first line start: an earlier range's.
        for offset, line in pieces:
            if offset >= stop:
                return
            yield offset, line


def _pieces(stream, offset):
    """(offset, line) of each line of `stream` read from `offset`, a line
    ending at `\\r\\n`, `\\r` or `\\n` (or at the end of the file): the line
    ends bytes.splitlines knows, unlike str.splitlines."""
    pending = b""
    while True:
        chunk = stream.read(_CHUNK_BYTES)
        if not chunk:
            if pending:
                yield offset, pending
            return
        lines = (pending + chunk).splitlines(keepends=True)
        # The last line may go on in the next chunk, and a \r ending it may be a \r\n cut in two.
        pending = lines.pop()
        for line in lines:
            yield offset, line
            offset += len(line)


class LineOffsets:
    """Line numbers across ranges from each range's own line count:
    `number(index, n)` is the file's number of line n (from 1) of range
    `index`, given {index: lines in that range} of every range."""

    def __init__(self, counts):
        self._before = {}
        total = 0
        for index in sorted(counts):
            self._before[index] = total
            total += counts[index]

    def number(self, index, line_in_range):
        return self._before[index] + line_in_range
