import pytest

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
