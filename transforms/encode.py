"""Stage 4: encode each decoded image as a serialized `tf.train.Example`.

Serialization is ours (`example_proto.py`): deterministic bytes, no TensorFlow
import in workers, and faster than the alternatives (bench/bench_encode.py).
"""

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics
from transforms.example_proto import serialize_example

# Feature keys of TensorFlow's classic image converters, so that existing
# readers work unchanged. `image/filename` is the path relative to --input.
DEFAULT_SCHEMA = "default"
# Only `image` and `label`, as many tutorials' readers expect.
SIMPLE_SCHEMA = "simple"
SCHEMAS = (DEFAULT_SCHEMA, SIMPLE_SCHEMA)

# Feature key -> type, per schema: what a reader's parsing spec needs.
FEATURE_TYPES = {
    DEFAULT_SCHEMA: {
        "image/encoded": "bytes", "image/format": "bytes", "image/height": "int64",
        "image/width": "int64", "image/channels": "int64", "image/colorspace": "bytes",
        "image/class/label": "int64", "image/class/text": "bytes", "image/filename": "bytes",
    },
    SIMPLE_SCHEMA: {"image": "bytes", "label": "int64"},
}


def example_features(image, label_id, schema):
    """{feature key: bytes or int} of one DecodedImage."""
    if schema == SIMPLE_SCHEMA:
        return {"image": image.image.encoded, "label": label_id}
    converted = image.image
    return {
        "image/encoded": converted.encoded,
        "image/format": converted.format.encode(),
        "image/height": converted.height,
        "image/width": converted.width,
        "image/channels": converted.channels,
        "image/colorspace": b"RGB" if converted.channels == 3 else b"Grayscale",
        "image/class/label": label_id,
        "image/class/text": image.label.encode("utf-8"),
        "image/filename": image.relative_path.encode("utf-8"),
    }


def encode_record(image, label_ids, schema):
    """Serialized tf.train.Example of one DecodedImage."""
    return serialize_example(example_features(image, label_ids[image.label], schema))


class _Encode(beam.DoFn):

    def __init__(self, schema):
        self._schema = schema
        self._class_names = None
        self._label_ids = None

    def setup(self):
        self._written = Metrics.counter(metrics.METRICS_NAMESPACE, "written")

    def process(self, image, class_names):
        if class_names is not self._class_names:  # The side input is fixed per run.
            self._class_names = class_names
            self._label_ids = {name: i for i, name in enumerate(class_names)}
        Metrics.counter(metrics.METRICS_NAMESPACE, f"class/{image.label}").inc()
        self._written.inc()
        metrics.add_finished(1)
        yield encode_record(image, self._label_ids, self._schema)


class EncodeExamples(beam.PTransform):
    """DecodedImage -> serialized tf.train.Example bytes.

    `class_names` is a singleton PCollection holding the list of class names;
    a class's integer label is its index in that list.
    """

    def __init__(self, class_names, schema=DEFAULT_SCHEMA):
        super().__init__()
        if schema not in SCHEMAS:
            raise ValueError(f"schema must be one of {SCHEMAS}, got {schema!r}")
        self._class_names = class_names
        self._schema = schema

    def expand(self, images):
        return images | beam.ParDo(_Encode(self._schema), beam.pvalue.AsSingleton(self._class_names))
