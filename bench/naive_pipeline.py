"""The baseline: the plain stages (match, key, decode, encode, WriteToTFRecord)
written the obvious way, as a user's one-off script would (fileio MatchFiles, ReadMatches, Map with Pillow and
tf.train.Example, WriteToTFRecord). Reading S3 through ReadMatches builds a new
boto3 client per file. Runs on Beam's in-process runner: 2.77's DirectRunner
would first try to download Prism, which offline hangs.

Run: .venv/bin/python bench/naive_pipeline.py INPUT OUTPUT [Beam options]
"""

import io
import os
import sys

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

SIZE = 256


def to_example(readable):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from PIL import Image

    image = Image.open(io.BytesIO(readable.read())).convert("RGB")
    scale = SIZE / min(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    label = readable.metadata.path.rsplit("/", 2)[-2]
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[out.getvalue()])),
                "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
            }
        )
    ).SerializeToString()


def main(argv):
    source, output, beam_args = argv[0], argv[1], argv[2:]
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(beam_args)) as p:
        (
            p
            | fileio.MatchFiles(source.rstrip("/") + "/**")
            | fileio.ReadMatches()
            | beam.Map(to_example)
            | beam.io.WriteToTFRecord(output.rstrip("/") + "/train", file_name_suffix=".tfrecord", num_shards=4)
        )


if __name__ == "__main__":
    main(sys.argv[1:])
