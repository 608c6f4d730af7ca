import pytest

from transforms import example_proto
from transforms.example_proto import parse_example
from transforms.example_proto import serialize_example


def _tensorflow_bytes(features):
    import tensorflow as tf

    feature = {}
    for key, value in features.items():
        if isinstance(value, bytes):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        else:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    "features",
    [
        {"image": b"\xff\xd8" + bytes(range(256)) * 600, "label": 7},
        {"image/class/label": 0, "image/class/text": "fourmi é".encode(), "empty": b"", "big": 2**40},
        {"negative": -1, "min": -(2**63), "max": 2**63 - 1, "zero": 0},
        {"b": 1, "a": 2, "c": b"x"},
    ],
)
def test_bytes_match_tensorflows_deterministic_serialization(features):
    assert serialize_example(features) == _tensorflow_bytes(features)


def test_kept_entries_give_the_same_bytes_and_unique_keys_are_not_kept():
    """Entries that repeat are serialized once and kept; the keys named unique
    (a file name) are not, so the cache does not fill with them."""
    features = {
        "image/class/label": 3,
        "image/class/text": b"bee",
        "image/filename": b"bees/1.jpg",
        "image/encoded": b"x" * 300,
    }
    unique = frozenset({"image/filename", "image/encoded"})
    first = serialize_example(features, unique)
    kept = example_proto._cached_entry.cache_info().currsize
    for n in range(50):
        serialize_example({**features, "image/filename": f"bees/{n}.jpg".encode()}, unique)
    assert example_proto._cached_entry.cache_info().currsize == kept
    assert serialize_example(features, unique) == first == serialize_example(features) == _tensorflow_bytes(features)


def test_rejects_unsupported_values():
    with pytest.raises(TypeError):
        serialize_example({"x": 1.5})


def test_parse_reads_back_ours_and_tensorflows():
    import tensorflow as tf

    features = {
        "image": b"\xff\xd8" + bytes(range(256)) * 600,
        "label": 7,
        "neg": -(2**63),
        "text": "fourmi é".encode(),
        "empty": b"",
    }
    assert parse_example(serialize_example(features)) == {k: [v] for k, v in features.items()}
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "floats": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, -2.0])),
                "ints": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, -1, 2**40])),
                "strings": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a", b"", b"c"])),
                "none": tf.train.Feature(),
            }
        )
    )
    assert parse_example(example.SerializeToString()) == {
        "floats": [0.5, -2.0],
        "ints": [1, -1, 2**40],
        "strings": [b"a", b"", b"c"],
        "none": [],
    }


@pytest.mark.parametrize("data", [b"\x0a\x05abc", b"\x0a\xff", b"\x0f"])
def test_parse_rejects_malformed_bytes(data):
    with pytest.raises(ValueError):
        parse_example(data)


def _field(number, wire, payload):
    """One protobuf field: tag varint, then the payload (length-prefixed for wire type 2)."""
    tag = bytes([number << 3 | wire])
    return tag + (bytes([len(payload)]) + payload if wire == 2 else payload)


def test_parse_reads_unpacked_lists_and_skips_unknown_fields():
    # Writers other than TensorFlow's may leave lists unpacked (one field per
    # value) and add fields this reader does not know: read the one, skip the other.
    import struct

    floats = _field(2, 2, _field(1, 5, struct.pack("<f", 0.5)) + _field(1, 5, struct.pack("<f", -2.0)))
    ints = _field(3, 2, _field(1, 0, b"\x05") + _field(1, 0, b"\xac\x02"))  # 5, 300
    entries = _field(1, 2, _field(1, 2, b"f") + _field(2, 2, floats)) + _field(
        1, 2, _field(1, 2, b"i") + _field(2, 2, ints)
    )
    example = _field(1, 2, entries) + _field(9, 1, bytes(8)) + _field(10, 0, b"\x03")
    assert parse_example(example) == {"f": [0.5, -2.0], "i": [5, 300]}


@pytest.mark.parametrize(
    "data,message",
    [
        (b"\x0a\x05abc", "truncated Example"),
        (b"\x0d\x00\x00", "truncated Example"),
        (b"\x0a\xff", "malformed varint in Example"),
        (b"\x0f", "not an Example (wire type 7)"),
    ],
)
def test_malformed_bytes_are_named(data, message):
    with pytest.raises(ValueError) as malformed:
        parse_example(data)
    assert str(malformed.value) == message
