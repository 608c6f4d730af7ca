"""Stage 4: encode each decoded image as a serialized `tf.train.Example`.

Encoding goes through tfx-bsl's `RecordBatchToExamplesEncoder`, which builds
Examples from an Arrow batch in C++: several times faster than building
`tf.train.Example` objects one by one (bench/bench_encode.py), and workers
never import TensorFlow (seconds and hundreds of MB each).
"""

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics
from tfx_bsl.coders import example_coder

from pipeline import progress
from transforms.errors import METRICS_NAMESPACE

# Feature keys of TensorFlow's classic image converters, so that existing
# readers work unchanged. `image/filename` is the path relative to --input.
DEFAULT_SCHEMA = "default"
# Only `image` and `label`, as many tutorials' readers expect.
SIMPLE_SCHEMA = "simple"
SCHEMAS = (DEFAULT_SCHEMA, SIMPLE_SCHEMA)

_BYTES = pa.list_(pa.binary())
_INT64 = pa.list_(pa.int64())

# Feature key -> (Arrow type, value of a DecodedImage given its label id).
_FEATURES = {
    DEFAULT_SCHEMA: {
        "image/encoded": (_BYTES, lambda d, _: d.image.encoded),
        "image/format": (_BYTES, lambda d, _: d.image.format.encode()),
        "image/height": (_INT64, lambda d, _: d.image.height),
        "image/width": (_INT64, lambda d, _: d.image.width),
        "image/channels": (_INT64, lambda d, _: d.image.channels),
        "image/colorspace": (_BYTES, lambda d, _: b"RGB" if d.image.channels == 3 else b"Grayscale"),
        "image/class/label": (_INT64, lambda _, label_id: label_id),
        "image/class/text": (_BYTES, lambda d, _: d.label.encode()),
        "image/filename": (_BYTES, lambda d, _: d.relative_path.encode()),
    },
    SIMPLE_SCHEMA: {
        "image": (_BYTES, lambda d, _: d.image.encoded),
        "label": (_INT64, lambda _, label_id: label_id),
    },
}

# Examples encoded per Arrow batch: large enough to amortise the per-call
# cost, small enough that a batch of encoded images stays a few MB.
_EXAMPLES_PER_BATCH = 64


def feature_keys(schema):
    return tuple(_FEATURES[schema])


def encode_examples(images, label_ids, schema):
    """Serialized Examples for a list of DecodedImage, in the same order."""
    features = _FEATURES[schema]
    ids = [label_ids[image.label] for image in images]
    columns = [
        pa.array([[value(image, label_id)] for image, label_id in zip(images, ids)], type=arrow_type)
        for arrow_type, value in features.values()
    ]
    batch = pa.RecordBatch.from_arrays(columns, names=list(features))
    return example_coder.RecordBatchToExamplesEncoder().encode(batch)


class _EncodeBatch(beam.DoFn):

    def __init__(self, schema):
        self._schema = schema
        self._label_ids = None
        self._class_names = None

    def setup(self):
        self._written = Metrics.counter(METRICS_NAMESPACE, "written")

    def process(self, images, class_names):
        if class_names is not self._class_names:  # The side input is fixed per run.
            self._class_names = class_names
            self._label_ids = {name: i for i, name in enumerate(class_names)}
        for image in images:
            Metrics.counter(METRICS_NAMESPACE, f"class/{image.label}").inc()
        self._written.inc(len(images))
        progress.add_finished(len(images))
        yield from encode_examples(images, self._label_ids, self._schema)


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
        return (
            images
            | "Batch" >> beam.BatchElements(
                min_batch_size=_EXAMPLES_PER_BATCH, max_batch_size=_EXAMPLES_PER_BATCH)
            | "Encode" >> beam.ParDo(
                _EncodeBatch(self._schema), beam.pvalue.AsSingleton(self._class_names)))
