import pytest

from tests.records import jpeg_bytes
from tests.records import read_examples
from transforms.converting import DecodedImage
from transforms.example_proto import serialize_example
from transforms.imaging import ConvertedImage
from transforms.schema import FEATURE_TYPES
from transforms.schema import example_features

LABEL_IDS = {"ants": 0, "bees": 1}


def _images():
    return [
        DecodedImage(
            "bees",
            "bees/b.jpg",
            ConvertedImage(encoded=jpeg_bytes((40, 30)), width=40, height=30, channels=3, format="JPEG"),
        ),
        DecodedImage(
            "ants",
            "ants/a.jpg",
            ConvertedImage(
                encoded=jpeg_bytes((20, 10), mode="L", color=90), width=20, height=10, channels=1, format="JPEG"
            ),
        ),
    ]


def _write_and_read(tmp_path, schema):
    import tensorflow as tf

    path = str(tmp_path / "r.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for image in _images():
            writer.write(serialize_example(example_features(image, LABEL_IDS[image.label], schema)))
    return read_examples([path])


def test_default_schema_has_the_classic_keys(tmp_path):
    bees, ants = _write_and_read(tmp_path, "default")
    assert set(bees) - {"pixels"} == set(FEATURE_TYPES["default"])
    assert (bees["image/class/label"], bees["image/class/text"]) == (1, b"bees")
    assert (ants["image/class/label"], ants["image/class/text"]) == (0, b"ants")
    assert (bees["image/height"], bees["image/width"], bees["image/channels"]) == (30, 40, 3)
    assert (bees["image/format"], bees["image/colorspace"]) == (b"JPEG", b"RGB")
    assert (ants["image/channels"], ants["image/colorspace"]) == (1, b"Grayscale")
    assert bees["image/filename"] == b"bees/b.jpg"
    assert bees["pixels"].shape == (30, 40, 3) and ants["pixels"].shape == (10, 20, 1)


def test_simple_schema_has_image_and_label_only(tmp_path):
    bees, ants = _write_and_read(tmp_path, "simple")
    assert set(bees) - {"pixels"} == set(FEATURE_TYPES["simple"])
    assert (bees["label"], ants["label"]) == (1, 0)
    assert bees["image"] == _images()[0].image.encoded


@pytest.mark.parametrize("schema", sorted(FEATURE_TYPES))
def test_feature_types_describe_the_features(schema):
    features = example_features(_images()[0], 1, schema)
    types = {key: "int64" if isinstance(v, int) else "bytes" for key, v in features.items()}
    assert types == FEATURE_TYPES[schema]
