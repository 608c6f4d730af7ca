"""The conversion pipeline, stage by stage, as the design describes it:

  match files -> key by parent folder -> decode and resize -> encode Example
  -> write TFRecord shards

beside labels.txt (the class list) and errors.jsonl (every rejected input).
"""

import os

from apache_beam import Flatten
from apache_beam.io.filesystems import FileSystems

from pipeline.options import ConvertOptions
from pipeline.options import image_settings
from transforms.decode import DecodeAndResize
from transforms.encode import EncodeExamples
from transforms.errors import WriteErrors
from transforms.storage import is_s3
from transforms.storage import s3_settings
from transforms.label import ClassNames
from transforms.label import KeyByLabel
from transforms.label import WriteLabels
from transforms.label import parse_labels_file
from transforms.match import MatchImages
from transforms.write import WriteShards

# Concurrent fetches per worker from S3: GETs mostly wait on the network.
_S3_DECODE_THREADS = 16


def build(pipeline, options):
    """Adds the whole conversion to `pipeline`, configured by `options`."""
    convert = options.view_as(ConvertOptions)
    fixed_labels = read_fixed_labels(convert.labels_file)
    s3 = s3_settings(options)

    paths = pipeline | "MatchImages" >> MatchImages(convert.input)
    keyed = paths | "KeyByLabel" >> KeyByLabel(convert.input, fixed_labels)
    class_names = keyed.keyed | "ClassNames" >> ClassNames(fixed_labels)
    decoded = keyed.keyed | "DecodeAndResize" >> DecodeAndResize(
        convert.input, image_settings(options), s3, decode_threads(convert))
    records = decoded.images | "EncodeExamples" >> EncodeExamples(class_names, convert.schema)
    records | "WriteShards" >> WriteShards(convert.output, convert.num_shards)

    class_names | "WriteLabels" >> WriteLabels(convert.output, s3)
    ((keyed.errors, decoded.errors)
     | "AllErrors" >> Flatten()
     | "WriteErrors" >> WriteErrors(convert.output, s3))


def read_fixed_labels(labels_file):
    """The class list of `--labels_file`, or None when classes come from folders."""
    if not labels_file:
        return None
    with FileSystems.open(labels_file) as f:
        return parse_labels_file(f.read().decode("utf-8"))


def decode_threads(convert):
    if convert.decode_threads > 0:
        return convert.decode_threads
    if is_s3(convert.input):
        return _S3_DECODE_THREADS
    # Pillow releases the GIL while decoding: two threads per core hide the
    # file reads and the Python work between decodes.
    return 2 * (os.cpu_count() or 1)
