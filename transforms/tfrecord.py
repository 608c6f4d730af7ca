"""TFRecord framing: what `tf.io.TFRecordWriter` writes, without TensorFlow.

Each record is: uint64 length, masked crc32c of the length, the data, masked
crc32c of the data (little-endian). crc32c comes from google-crc32c's C
implementation, the one Beam's own TFRecord sink prefers.
"""

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
    position = 0
    while position < len(data):
        if position + 12 > len(data):
            raise ValueError(f"truncated record header at byte {position}")
        length_bytes = data[position:position + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", data[position + 8:position + 12])
        if length_crc != _masked_crc32c(length_bytes):
            raise ValueError(f"corrupt record length at byte {position}")
        start, end = position + 12, position + 12 + length
        if end + 4 > len(data):
            raise ValueError(f"truncated record at byte {position}")
        record = data[start:end]
        if struct.unpack("<I", data[end:end + 4])[0] != _masked_crc32c(record):
            raise ValueError(f"corrupt record data at byte {position}")
        yield record
        position = end + 4
