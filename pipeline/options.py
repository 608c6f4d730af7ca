"""The converter's options, a `PipelineOptions` subclass.

Being a subclass means Beam parses them with its own options (runner, S3,
Flink, Spark, ...) from one command line, and carries them to workers.
"""

from apache_beam.options.pipeline_options import PipelineOptions

from transforms import encode
from transforms import imaging
from transforms import label
from transforms import layout

_DEFAULTS = imaging.ImageSettings()


class ConvertOptions(PipelineOptions):

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input",
            help="Folder or s3:// prefix holding <label>/<image> files; the parent folder of "
                 "each image is its class.")
        parser.add_argument(
            "--output",
            help="Folder or s3:// prefix that receives the shards, labels.txt and errors.jsonl.")
        parser.add_argument(
            "--format", choices=layout.FORMATS, default=layout.TFRECORD,
            help="tfrecord: tf.train.Example records in .tfrecord shards; recordio: MXNet "
                 "RecordIO as im2rec.py writes it, a .rec with its .idx and .lst per shard, for "
                 "SageMaker's built-in image classification (default: %(default)s).")
        parser.add_argument(
            "--num_shards", default="4",
            help="Shards per split: N for every split, or per split as "
                 "'train=16,validation=2'. A split never gets more shards than records "
                 "(default: %(default)s).")
        parser.add_argument(
            "--shard_size_mb", type=float, default=0,
            help="Instead of --num_shards, aim at shards of about this many MiB, estimated "
                 "from a sample of images (TFDS aims at 64 MiB to 1 GiB).")
        parser.add_argument(
            "--writer", choices=("deterministic", "beam"), default="deterministic",
            help="deterministic: shuffled, balanced, byte-identical on every rerun and runner, "
                 "memory bounded; beam: Beam's WriteToTFRecord (see README) "
                 "(default: %(default)s).")
        parser.add_argument(
            "--seed", type=int, default=0,
            help="Seed of the hash that decides each image's split, shard and position "
                 "(default: %(default)s).")
        parser.add_argument(
            "--validation_ratio", type=float, default=0.0,
            help="Share of each class that goes to the validation split (default: %(default)s).")
        parser.add_argument(
            "--test_ratio", type=float, default=0.0,
            help="Share of each class that goes to the test split (default: %(default)s).")
        parser.add_argument(
            "--label_from", choices=label.LABEL_FROM, default=label.PARENT,
            help="Where an image's class comes from: 'parent', the folder it is in; 'top', the "
                 "first folder under --input (under the split folder with --splits_from_folders), "
                 "for trees nested deeper than <label>/<image> (default: %(default)s).")
        parser.add_argument(
            "--splits_from_folders", action="store_true",
            help="The input is already split: <input>/<split>/<label>/<image>.")
        parser.add_argument(
            "--plan", action="store_true",
            help="List, match, split and plan the shards, estimate the output's size from a "
                 "sample of 32 images, print the plan and exit: nothing is written. Always "
                 "runs here, whatever --runner says.")
        parser.add_argument(
            "--overwrite", action="store_true",
            help="Replace a dataset already in --output completely (otherwise refuse).")
        parser.add_argument(
            "--image_size", type=int, default=_DEFAULTS.size,
            help="Target size in pixels; what it measures depends on --resize_mode "
                 "(default: %(default)s).")
        parser.add_argument(
            "--resize_mode", choices=imaging.RESIZE_MODES, default=_DEFAULTS.resize_mode,
            help="shorter_side: shorter side becomes --image_size; fit: the whole image fits "
                 "in a square of that size; exact: stretched to that square; center_crop: "
                 "shorter side to that size, then the central square. Only exact ever "
                 "upscales (default: %(default)s).")
        parser.add_argument(
            "--image_format", choices=imaging.IMAGE_FORMATS, default=_DEFAULTS.image_format,
            help="Encoding of the stored images (default: %(default)s).")
        parser.add_argument(
            "--jpeg_quality", type=int, default=_DEFAULTS.jpeg_quality,
            help="JPEG quality 1..100 (default: %(default)s).")
        parser.add_argument(
            "--keep_original", action="store_true",
            help="Store the source bytes untouched when the file is already in --image_format, "
                 "upright, in the target color mode and needs no resizing.")
        parser.add_argument(
            "--color", choices=imaging.COLORS, default=_DEFAULTS.color,
            help="rgb (3 channels) or grayscale (1 channel); transparency is composited "
                 "on white (default: %(default)s).")
        parser.add_argument(
            "--labels_file",
            help="Text file (local or s3://) with one class name per line: line N is label N. "
                 "Images of other classes become error rows. Default: the sorted folder names.")
        # No default here, so that --schema given with --format recordio (whose
        # records have no feature keys) can be refused; `record_schema` fills it in.
        parser.add_argument(
            "--schema", choices=encode.SCHEMAS,
            help="Feature keys of the tf.train.Examples (--format tfrecord only). default: the "
                 "image/... keys of TensorFlow's classic converters; simple: only 'image' and "
                 f"'label' (default: {encode.DEFAULT_SCHEMA}).")
        parser.add_argument(
            "--max_pixels", type=int, default=_DEFAULTS.max_pixels,
            help="Images claiming more pixels than this are rejected before decoding "
                 "(decompression-bomb limit, default: %(default)s).")
        parser.add_argument(
            "--max_seconds_per_image", type=float, default=_DEFAULTS.max_seconds,
            help="An image still converting after this many seconds becomes a too_slow error "
                 "row; checked between Pillow's 64 KiB decoding steps (default: %(default)s).")
        parser.add_argument(
            "--min_size", type=int, default=_DEFAULTS.min_size,
            help="Images whose shorter side is below this many pixels become too_small error "
                 "rows instead of being stored smaller than --image_size (images are never "
                 "upscaled); 0 keeps them all and counts them in the summary (default: %(default)s).")
        parser.add_argument(
            "--decode_threads", type=int, default=0,
            help="Images decoded at once per worker; 0 means one per core: more only fight "
                 "over Python's GIL (default: %(default)s).")
        parser.add_argument(
            "--fetch_threads", type=int, default=0,
            help="Images read at once per worker; 0 means as many as --decode_threads for "
                 "local files and 16 for S3 (default: %(default)s).")
        parser.add_argument(
            "--log_level", default="WARNING",
            choices=("DEBUG", "INFO", "WARNING", "ERROR"),
            help="Logging level of the launcher (default: %(default)s).")


def image_settings(options):
    """The `imaging.ImageSettings` these options ask for."""
    convert = options.view_as(ConvertOptions)
    return imaging.ImageSettings(
        size=convert.image_size,
        resize_mode=convert.resize_mode,
        image_format=convert.image_format,
        jpeg_quality=convert.jpeg_quality,
        color=convert.color,
        keep_original=convert.keep_original,
        max_pixels=convert.max_pixels,
        max_seconds=convert.max_seconds_per_image,
        min_size=convert.min_size)


def record_schema(convert):
    """The tf.train.Example schema of a TFRecord run, None for RecordIO: its
    records are an im2rec header and the image, with no feature keys."""
    if convert.format == layout.RECORDIO:
        return None
    return convert.schema or encode.DEFAULT_SCHEMA
