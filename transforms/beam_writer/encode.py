"""Encode each decoded image as a serialized `tf.train.Example` (--writer beam).

The default writer encodes inside shard_writer.py, through the same
`encode_record` of the TFRecord format (transforms/formats/tfrecord.py).
Serialization is ours (`example_proto.py`): deterministic bytes, no TensorFlow
import in workers, and faster than the alternatives (bench/bench_encode.py).
"""

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics
from transforms.formats.tfrecord import encode_record
from transforms.schema import DEFAULT_SCHEMA
from transforms.schema import SCHEMAS


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
