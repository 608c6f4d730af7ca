"""The TFRecord format: tf.train.Example records in .tfrecord shards, without TensorFlow.

Framing is what `tf.io.TFRecordWriter` writes. Each record is: uint64
length, masked crc32c of the length, the data, masked crc32c of the data
(little-endian). crc32c comes from google-crc32c's C implementation, the
one Beam's own TFRecord sink prefers. The data is a tf.train.Example whose
feature keys are the schema's (transforms/schema.py), serialized by
transforms/example_proto.py.
"""

import io
import struct

import google_crc32c

from transforms import schema as schemas
from transforms.example_proto import parse_example
from transforms.example_proto import serialize_example
from transforms.formats import TFRECORD
from transforms.formats import RecordFormat
from transforms.formats import read_exactly

SUFFIX = ".tfrecord"

_MASK_DELTA = 0xA282EAD8


def _masked_crc32c(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record):
    """The bytes of one TFRecord holding `record`."""
    length = struct.pack("<Q", len(record))
    return b"".join(
        (length, struct.pack("<I", _masked_crc32c(length)), record, struct.pack("<I", _masked_crc32c(record)))
    )


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
        header = read_exactly(stream, 12)
        if not header:
            return
        if len(header) < 12:
            raise ValueError(f"truncated record header at byte {position}")
        length_bytes = header[:8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", header[8:])
        if length_crc != _masked_crc32c(length_bytes):
            raise ValueError(f"corrupt record length at byte {position}")
        body = read_exactly(stream, length + 4)
        if len(body) < length + 4:
            raise ValueError(f"truncated record at byte {position}")
        record = body[:length]
        if struct.unpack("<I", body[length:])[0] != _masked_crc32c(record):
            raise ValueError(f"corrupt record data at byte {position}")
        yield record
        position += 12 + length + 4


def encode_record(image, label_ids, schema):
    """Serialized tf.train.Example of one DecodedImage."""
    features = schemas.example_features(image, label_ids[image.label], schema)
    return serialize_example(features, schemas.UNIQUE_KEYS[schema])


class ShardWriter:
    """Writes one shard's images to `sink` as framed tf.train.Examples."""

    def __init__(self, sink, label_ids, schema):
        self._sink = sink
        self._label_ids = label_ids
        self._schema = schema

    def write(self, image):
        self._sink.write(frame(encode_record(image, self._label_ids, self._schema)))

    def side_files(self):
        return {}


_PYTHON_TYPES = {"bytes": bytes, "int64": int}


def fields(payload, schema):
    """({role: value}, issues) of one record: each of the schema's features
    must hold exactly one value of its type."""
    try:
        features = parse_example(payload)
    except (ValueError, UnicodeDecodeError) as e:
        return {}, [("bad_example", f"not a tf.train.Example ({e})")]
    values, issues = {}, []
    for role, (key, kind) in schemas.FEATURES[schema].items():
        found = features.get(key)
        if found is not None and len(found) == 1 and isinstance(found[0], _PYTHON_TYPES[kind]):
            values[role] = found[0]
        else:
            issues.append(
                (
                    "bad_feature",
                    f"{key} should hold one {kind} value, holds {found if found is not None else 'nothing'!r:.60}",
                )
            )
    return values, issues


def _layout(schema):
    return {"schema": schema, "features": schemas.FEATURE_TYPES[schema]}


FORMAT = RecordFormat(
    name=TFRECORD,
    suffix=SUFFIX,
    side_suffixes={},
    shard_writer=ShardWriter,
    iter_records=iter_records,
    fields=fields,
    layout=_layout,
    has_schema=True,
)
