"""The record schemas: which tf.train.Example feature holds what.

One table, read by the encoder (transforms/formats/tfrecord.py), the reader
(pipeline/read.py) and `inspect`, so that the three can never disagree on a
key. Each feature has a role (what it holds, whatever its key) and a type.
"""

# Feature keys of TensorFlow's classic image converters, so that existing
# readers work unchanged. `image/filename` is the path relative to --input.
DEFAULT_SCHEMA = "default"
# Only `image` and `label`, as many tutorials' readers expect.
SIMPLE_SCHEMA = "simple"
SCHEMAS = (DEFAULT_SCHEMA, SIMPLE_SCHEMA)

# role -> (feature key, type), per schema, in the order dataset_info.json lists them.
FEATURES = {
    DEFAULT_SCHEMA: {
        "image": ("image/encoded", "bytes"),
        "format": ("image/format", "bytes"),
        "height": ("image/height", "int64"),
        "width": ("image/width", "int64"),
        "channels": ("image/channels", "int64"),
        "colorspace": ("image/colorspace", "bytes"),
        "label": ("image/class/label", "int64"),
        "text": ("image/class/text", "bytes"),
        "filename": ("image/filename", "bytes"),
    },
    SIMPLE_SCHEMA: {
        "image": ("image", "bytes"),
        "label": ("label", "int64"),
    },
}

# Roles whose values differ in every record (example_proto keeps the others'
# serialized entries for the next record).
UNIQUE_ROLES = ("image", "filename")
# Their feature keys, per schema.
UNIQUE_KEYS = {
    schema: frozenset(key for role, (key, _) in features.items() if role in UNIQUE_ROLES)
    for schema, features in FEATURES.items()
}

# Feature key -> type, per schema: what a reader's parsing spec needs
# (dataset_info.json's "features").
FEATURE_TYPES = {schema: dict(features.values()) for schema, features in FEATURES.items()}

# Role -> feature key, per schema.
KEYS = {schema: {role: key for role, (key, _) in features.items()} for schema, features in FEATURES.items()}


def example_features(image, label_id, schema):
    """{feature key: bytes or int} of one DecodedImage, in `schema`."""
    converted = image.image
    values = {
        "image": converted.encoded,
        "format": converted.format.encode(),
        "height": converted.height,
        "width": converted.width,
        "channels": converted.channels,
        "colorspace": b"RGB" if converted.channels == 3 else b"Grayscale",
        "label": label_id,
        "text": image.label.encode("utf-8"),
        "filename": image.relative_path.encode("utf-8"),
    }
    return {key: values[role] for role, key in KEYS[schema].items()}
