"""Serializes `tf.train.Example` protos by hand, deterministically, without TensorFlow.

Why not TensorFlow or tfx-bsl: importing TensorFlow costs each worker seconds
and hundreds of MB, and tfx-bsl's `RecordBatchToExamplesEncoder` writes the
feature map in a different order from one call to the next, so the same input
would not give the same bytes. The Example wire format is small and stable;
this writes it with map entries sorted by key, exactly what protobuf's own
deterministic serialization produces (tests compare the two byte for byte).

Only bytes and int64 features are needed:

  Example  { Features features = 1; }
  Features { map<string, Feature> feature = 1; }
  Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                          Int64List int64_list = 3; } }
  BytesList { repeated bytes value = 1; }
  Int64List { repeated int64 value = 1 [packed = true]; }
"""

import functools

# Tag bytes: (field number << 3) | wire type 2 (length-delimited).
_FIELD_1 = b"\x0a"
_FIELD_2 = b"\x12"
_FIELD_3 = b"\x1a"

_UINT64 = 1 << 64
_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def _varint(value):
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if value < 0:
        value += _UINT64  # int64 is written as its two's-complement uint64.
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@functools.lru_cache(maxsize=4096)
def _key_field(key):
    encoded = key.encode("utf-8")
    return _FIELD_1 + _varint(len(encoded)) + encoded


def _entry_parts(key, value):
    """(size, parts) of one map entry, nested headers first.

    Sizes are computed before anything is copied, so the image bytes are
    copied once, by the final join, however deep the nesting.
    """
    if isinstance(value, (bytes, bytearray)):
        kind, payload = _FIELD_1, bytes(value)                   # Feature.bytes_list
        items = _FIELD_1 + _varint(len(payload))                  # BytesList.value header
    elif isinstance(value, int):
        kind, payload = _FIELD_3, _varint(value)                 # Feature.int64_list
        items = _FIELD_1 + _varint(len(payload))                  # packed Int64List.value
    else:
        raise TypeError(f"feature values must be bytes or int, got {type(value).__name__}")
    list_size = len(items) + len(payload)
    list_header = kind + _varint(list_size)
    feature_size = len(list_header) + list_size
    key_field = _key_field(key)
    feature_header = _FIELD_2 + _varint(feature_size)
    body_size = len(key_field) + len(feature_header) + feature_size
    entry_header = _FIELD_1 + _varint(body_size)
    parts = (entry_header, key_field, feature_header, list_header, items, payload)
    return len(entry_header) + body_size, parts


def serialize_example(features):
    """Serialized `tf.train.Example` of {key: bytes or int}, one value per feature."""
    total, parts = 0, []
    for key in sorted(features):
        size, entry = _entry_parts(key, features[key])
        total += size
        parts.extend(entry)
    return b"".join((_FIELD_1, _varint(total), *parts))
