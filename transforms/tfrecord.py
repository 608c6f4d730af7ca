"""TFRecord framing: what `tf.io.TFRecordWriter` writes, without TensorFlow.

Each record is: uint64 length, masked crc32c of the length, the data, masked
crc32c of the data (little-endian). crc32c comes from google-crc32c's C
implementation, the one Beam's own TFRecord sink prefers.
"""

import io
import struct

import google_crc32c

_MASK_DELTA = 0xA282EAD8


def _masked_crc32c(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record):
    """The bytes of one TFRecord holding `record`."""
    length = struct.pack("<Q", len(record))
    return b"".join((length, struct.pack("<I", _masked_crc32c(length)),
                     record, struct.pack("<I", _masked_crc32c(record))))


def read_records(data):
    """Yields the records of a whole TFRecord file's bytes, checking every crc."""
    yield from iter_records(io.BytesIO(data))


def iter_records(stream):
    """Yields the records read from a binary stream, checking every crc.

    Reads one record at a time, so a shard of any size streams in constant
    memory. Raises ValueError naming the byte offset of a corrupt or
    truncated record.
    """
    position = 0
    while True:
        header = _read_exactly(stream, 12)
        if not header:
            return
        if len(header) < 12:
            raise ValueError(f"truncated record header at byte {position}")
        length_bytes = header[:8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", header[8:])
        if length_crc != _masked_crc32c(length_bytes):
            raise ValueError(f"corrupt record length at byte {position}")
        body = _read_exactly(stream, length + 4)
        if len(body) < length + 4:
            raise ValueError(f"truncated record at byte {position}")
        record = body[:length]
        if struct.unpack("<I", body[length:])[0] != _masked_crc32c(record):
            raise ValueError(f"corrupt record data at byte {position}")
        yield record
        position += 12 + length + 4


def _read_exactly(stream, size):
    """Up to `size` bytes: fewer only at the end of the stream."""
    chunks, wanted = [], size
    while wanted > 0:
        chunk = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)
