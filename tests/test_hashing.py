"""transforms/hashing.py: the streams that count and hash what passes."""

import hashlib
import io

from transforms.hashing import HashingReader
from transforms.hashing import HashingWriter
from transforms.hashing import drain

DATA = bytes(range(256)) * 5000  # 1.28 MB: more than one buffered read


def test_writer_passes_everything_through_and_hashes_it():
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    for start in range(0, len(DATA), 70_001):
        writer.write(DATA[start : start + 70_001])
    assert sink.getvalue() == DATA
    assert (writer.num_bytes, writer.hexdigest()) == (len(DATA), hashlib.sha256(DATA).hexdigest())


def test_reader_under_a_buffer_hashes_what_was_read_and_reports_each_read():
    heard = []
    hashing = HashingReader(io.BytesIO(DATA), on_bytes=heard.append)
    stream = io.BufferedReader(hashing, 1 << 16)
    assert stream.read(10) == DATA[:10]
    drain(stream)
    assert (hashing.num_bytes, sum(heard)) == (len(DATA), len(DATA))
    assert hashing.hexdigest() == hashlib.sha256(DATA).hexdigest()
    assert len(heard) > 1  # in pieces, not one read


def test_closing_the_reader_closes_its_stream():
    raw = io.BytesIO(DATA)
    HashingReader(raw).close()
    assert raw.closed
