import pytest

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


@pytest.mark.parametrize("features", [
    {"image": b"\xff\xd8" + bytes(range(256)) * 600, "label": 7},
    {"image/class/label": 0, "image/class/text": "fourmi é".encode(), "empty": b"", "big": 2**40},
    {"negative": -1, "min": -(2**63), "max": 2**63 - 1, "zero": 0},
    {"b": 1, "a": 2, "c": b"x"},
])
def test_bytes_match_tensorflows_deterministic_serialization(features):
    assert serialize_example(features) == _tensorflow_bytes(features)


def test_rejects_unsupported_values():
    with pytest.raises(TypeError):
        serialize_example({"x": 1.5})


def test_parse_reads_back_ours_and_tensorflows():
    import tensorflow as tf
    features = {"image": b"\xff\xd8" + bytes(range(256)) * 600, "label": 7, "neg": -(2**63),
                "text": "fourmi é".encode(), "empty": b""}
    assert parse_example(serialize_example(features)) == {k: [v] for k, v in features.items()}
    example = tf.train.Example(features=tf.train.Features(feature={
        "floats": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, -2.0])),
        "ints": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, -1, 2**40])),
        "strings": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a", b"", b"c"])),
        "none": tf.train.Feature(),
    }))
    assert parse_example(example.SerializeToString()) == {
        "floats": [0.5, -2.0], "ints": [1, -1, 2**40], "strings": [b"a", b"", b"c"], "none": []}


@pytest.mark.parametrize("data", [b"\x0a\x05abc", b"\x0a\xff", b"\x0f"])
def test_parse_rejects_malformed_bytes(data):
    with pytest.raises(ValueError):
        parse_example(data)
