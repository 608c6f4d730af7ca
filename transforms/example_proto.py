"""Serializes `tf.train.Example` protos by hand, deterministically, without TensorFlow.

Why not TensorFlow or tfx-bsl: importing TensorFlow costs each worker seconds
and hundreds of MB, and tfx-bsl's `RecordBatchToExamplesEncoder` writes the
feature map in a different order from one call to the next, so the same input
would not give the same bytes. The Example wire format is small and stable;
this writes it with map entries sorted by key, exactly what protobuf's own
deterministic serialization produces (tests compare the two byte for byte).

`parse_example` reads any Example back (bytes, int64 and float lists, packed
or not) for readers that should not need TensorFlow either.
Only bytes and int64 features are written:

  Example  { Features features = 1; }
  Features { map<string, Feature> feature = 1; }
  Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                          Int64List int64_list = 3; } }
  BytesList { repeated bytes value = 1; }
  Int64List { repeated int64 value = 1 [packed = true]; }
"""

import functools
import struct

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
        kind, payload = _FIELD_1, bytes(value)  # Feature.bytes_list
        items = _FIELD_1 + _varint(len(payload))  # BytesList.value header
    elif isinstance(value, int):
        kind, payload = _FIELD_3, _varint(value)  # Feature.int64_list
        items = _FIELD_1 + _varint(len(payload))  # packed Int64List.value
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


# Features that repeat from record to record (a label, its text, a format, a
# size) are serialized once and kept: Example framing went from 81 to 51 us a
# record in one sitting (bench/profile_stages.py --photos small). Values of
# the keys a caller names as unique to each record (the image, its file
# name) are not kept, nor bytes longer than this.
_CACHED_VALUE_BYTES = 256


@functools.lru_cache(maxsize=8192)
def _cached_entry(key, value):
    size, parts = _entry_parts(key, value)
    return size, (b"".join(parts),)


def serialize_example(features, unique_keys=frozenset()):
    """Serialized `tf.train.Example` of {key: bytes or int}, one value per
    feature; `unique_keys`: the keys whose values differ in every record."""
    total, parts = 0, []
    for key in sorted(features):
        value = features[key]
        kept = key not in unique_keys and (
            type(value) is int or (type(value) is bytes and len(value) <= _CACHED_VALUE_BYTES)
        )
        size, entry = (_cached_entry if kept else _entry_parts)(key, value)
        total += size
        parts.extend(entry)
    return b"".join((_FIELD_1, _varint(total), *parts))


# Wire types of the protobuf encoding.
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_INT64_MAX = (1 << 63) - 1


def parse_example(data):
    """{feature key: list of values} of a serialized `tf.train.Example`.

    Values are bytes, int or float, as the feature's list holds them. Raises
    ValueError on bytes that are not a well-formed Example.
    """
    features = {}
    for field, _, features_bytes in _fields(data):
        if field != 1:
            continue
        for entry_field, _, entry in _fields(features_bytes):
            if entry_field == 1:
                key, values = _parse_entry(entry)
                features[key] = values
    return features


def _parse_entry(entry):
    key, values = "", []
    for field, _, value in _fields(entry):
        if field == 1:
            key = bytes(value).decode("utf-8")
        elif field == 2:
            values = _parse_feature(value)
    return key, values


def _parse_feature(feature):
    values = []
    for kind, _, value_list in _fields(feature):
        for field, wire, value in _fields(value_list):
            if field != 1:
                continue
            if kind == 1:
                values.append(bytes(value))
            elif kind == 2:
                values.extend(_floats(wire, value))
            elif kind == 3:
                values.extend(_int64s(wire, value))
    return values


def _floats(wire, value):
    if wire == _FIXED32:
        return [value]
    if len(value) % 4:
        raise ValueError("malformed packed float list")
    return list(struct.unpack(f"<{len(value) // 4}f", value))


def _int64s(wire, value):
    if wire == _VARINT:
        items = [value]
    else:  # Packed: a run of varints.
        items, position = [], 0
        while position < len(value):
            item, position = _read_varint(value, position)
            items.append(item)
    return [item - (1 << 64) if item > _INT64_MAX else item for item in items]


def _fields(data):
    """Yields (field number, wire type, value) of a message's bytes: an int
    for varints, a float for fixed32, bytes (a memoryview) for the rest."""
    data = memoryview(data)
    position = 0
    while position < len(data):
        tag, position = _read_varint(data, position)
        field, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, position = _read_varint(data, position)
        elif wire == _LENGTH_DELIMITED:
            size, position = _read_varint(data, position)
            value, position = data[position : position + size], position + size
            if len(value) != size:
                raise ValueError("truncated Example")
        elif wire == _FIXED32:
            if position + 4 > len(data):
                raise ValueError("truncated Example")
            (value,) = struct.unpack_from("<f", data, position)
            position += 4
        elif wire == _FIXED64:
            position += 8
            value = None
        else:
            raise ValueError(f"not an Example (wire type {wire})")
        yield field, wire, value


def _read_varint(data, position):
    result, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("malformed varint in Example")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
