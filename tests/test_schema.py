"""transforms/schema.py: the feature keys every reader of ours and TensorFlow's
classic converters agree on, spelled out here rather than taken from the table."""

from transforms import schema as schemas


def test_default_schema_is_the_classic_converters_keys_in_order():
    assert list(schemas.FEATURE_TYPES["default"].items()) == [
        ("image/encoded", "bytes"),
        ("image/format", "bytes"),
        ("image/height", "int64"),
        ("image/width", "int64"),
        ("image/channels", "int64"),
        ("image/colorspace", "bytes"),
        ("image/class/label", "int64"),
        ("image/class/text", "bytes"),
        ("image/filename", "bytes"),
    ]
    assert schemas.FEATURE_TYPES["simple"] == {"image": "bytes", "label": "int64"}


def test_every_schema_has_an_image_and_a_label_role():
    for schema in schemas.SCHEMAS:
        assert {"image", "label"} <= set(schemas.KEYS[schema])
    assert schemas.KEYS["default"]["label"] == "image/class/label"
    assert schemas.KEYS["simple"]["image"] == "image"
