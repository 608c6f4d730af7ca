"""The converter's options, a `PipelineOptions` subclass, and their validation.

Being a subclass means Beam parses them with its own options (runner, S3,
Flink, Spark, ...) from one command line, and carries them to workers.
`validate()` checks every value once, before anything runs, with messages
that name the flag; what the values ask for (image settings, record format
and schema) is then built from them in one place each.
"""

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import S3Options
from apache_beam.options.pipeline_options import StandardOptions

from pipeline import LOCAL_RUNNER_NAMES
from pipeline.command import UsageError
from pipeline.command import check_s3_endpoint
from transforms import formats
from transforms import imaging
from transforms import label
from transforms import line_ranges
from transforms import manifest
from transforms import parts
from transforms import schema as schemas
from transforms import shard
from transforms.layout import SPLITS
from transforms.layout import TEST
from transforms.layout import TRAIN
from transforms.layout import VALIDATION

_DEFAULTS = imaging.ImageSettings()


def refuse_dry_run(argv):
    """Beam's own --dry_run takes a value and would run the whole conversion;
    given as `upload --dry_run` is (no value), or with one, it is answered
    with what the user wants here."""
    if any(arg.split("=", 1)[0] in ("--dry_run", "--dry-run", "--dryrun") for arg in argv):
        raise UsageError(
            "--dry_run is Beam's test flag and would run the whole conversion; "
            "--plan shows what a run would write without writing anything"
        )


def runs_locally(options):
    """True if the job runs on Beam's in-process runner, in this process
    (pipeline.LOCAL_RUNNER_NAMES says why that is not Beam's DirectRunner)."""
    name = options.view_as(StandardOptions).runner
    return name is None or name.lower() in LOCAL_RUNNER_NAMES


class JavaRunnerOptions(PipelineOptions):
    """Java options of Beam's Flink and Spark runners that Beam's Python SDK
    does not declare (the portable runners forward only declared options);
    runners/*/run.sh set them for this project's standalone clusters."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--pipeline_resources_detector_factory_class",
            default=None,
            help="Java class with which a Flink or Spark job server lists the jars to ship with a job "
            "(default: its whole class path). In runners/job_server/java: im2tfrecord.NoResourcesToStage "
            "ships none, for clusters that have them installed; im2tfrecord.StageWhatSparkLacks ships what "
            "Spark's own jars lack, for a job server under spark-submit (the EMR Spark step).",
        )
        parser.add_argument(
            "--execution_mode_for_batch",
            default=None,
            help="Flink: PIPELINED (Beam's default) or BATCH_FORCED, where every exchange is written out "
            "first, so that a job that lost a TaskManager can restart on the slots that are left.",
        )


class ConvertOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input",
            help="Folder or s3:// prefix holding <label>/<image> files; the parent folder of each image is its "
            "class. With --manifest, where its relative paths start (default: the manifest's folder).",
        )
        parser.add_argument(
            "--manifest",
            metavar="PATH",
            help="Labels from a list, not folders: .csv (path,label[,split]), im2rec .lst or "
            "SageMaker JSON lines (.jsonl, .manifest); local or s3://.",
        )
        parser.add_argument("--manifest_label_key", metavar="KEY", help="JSON lines: the attribute holding the label.")
        parser.add_argument(
            "--manifest_range_bytes",
            type=int,
            default=line_ranges.RANGE_BYTES,
            metavar="BYTES",
            help="Manifest bytes each worker reads at once (default: %(default)s).",
        )
        parser.add_argument(
            "--dedupe",
            action="store_true",
            help="Write one copy of each distinct file, placed by content: none in two splits.",
        )
        parser.add_argument(
            "--output",
            help="Folder or s3:// prefix that receives the shards, labels.txt, errors.jsonl and, last, "
            "dataset_info.json.",
        )
        parser.add_argument(
            "--format",
            choices=formats.NAMES,
            default=formats.TFRECORD,
            help="tfrecord: tf.train.Example records in .tfrecord shards; recordio: MXNet "
            "RecordIO as im2rec.py writes it, a .rec with its .idx and .lst per shard, for "
            "SageMaker's built-in image classification (default: %(default)s).",
        )
        parser.add_argument(
            "--num_shards",
            help="Shards per split: N for every split, or per split as "
            "'train=16,validation=2'. A split never gets more shards than records. Left out: "
            f"{shard.DEFAULT_SHARDS}, or one per {shard.AUTO_SHARD_IMAGES:,} images where that is more. "
            f"No shard may hold over {shard.MAX_SHARD_IMAGES:,} images: a count that would make one stops "
            "the run (exit 2) once the splits are counted, before anything is written.",
        )
        parser.add_argument(
            "--shard_multiple",
            type=int,
            default=1,
            metavar="N",
            help="Round each split's shard count up to a multiple of N, the workers that will "
            "train on it (docs/training.md).",
        )
        parser.add_argument(
            "--shard_size_mb",
            type=float,
            default=0,
            help="Instead of --num_shards, aim at shards of about this many MiB, estimated "
            "from a sample of images (TFDS aims at 64 MiB to 1 GiB). 0, the default: off.",
        )
        parser.add_argument(
            "--writer",
            choices=("deterministic", "beam"),
            default="deterministic",
            help="deterministic: shuffled, balanced, byte-identical on every rerun and runner, "
            "memory bounded; beam: Beam's WriteToTFRecord (docs/design.md) "
            "(default: %(default)s).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="Seed of the hash that decides each image's split, shard and position (default: %(default)s).",
        )
        parser.add_argument(
            "--validation_ratio",
            type=float,
            default=0.0,
            help="Share of each class that goes to the validation split (default: %(default)s).",
        )
        parser.add_argument(
            "--test_ratio",
            type=float,
            default=0.0,
            help="Share of each class that goes to the test split (default: %(default)s).",
        )
        parser.add_argument(
            "--label_from",
            choices=label.LABEL_FROM,
            default=label.PARENT,
            help="Where an image's class comes from: 'parent', the folder it is in; 'top', the "
            "first folder under --input (or under the split folder), for deeper trees (default: %(default)s).",
        )
        parser.add_argument(
            "--splits_from_folders",
            action="store_true",
            help="The input is already split: <input>/<split>/<label>/<image>.",
        )
        parser.add_argument(
            "--plan",
            action="store_true",
            help="List, match, split and plan the shards, estimate the output's size from 32 "
            "sample images, print the plan and exit; nothing is left in --output. Runs on the "
            "runner --runner names, as the run would.",
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="Replace a complete dataset in --output (a killed run's needs no flag).",
        )
        parser.add_argument(
            "--write_part",
            metavar="K/N",
            help="One of N machines making one dataset: plan the whole input, write only part K of the "
            "shards, no dataset files. With every part's files in one --output, the same command without "
            "--write_part finishes it, reusing their shards (docs/clusters.md).",
        )
        parser.add_argument(
            "--image_size",
            type=int,
            default=_DEFAULTS.image_size,
            help="Target size in pixels; what it measures depends on --resize_mode (default: %(default)s).",
        )
        parser.add_argument(
            "--resize_mode",
            choices=imaging.RESIZE_MODES,
            default=_DEFAULTS.resize_mode,
            help="shorter_side: shorter side becomes --image_size; fit: the whole image fits "
            "in a square of that size; exact: stretched to that square; center_crop: "
            "shorter side to that size, then the central square. Only exact ever "
            "upscales (default: %(default)s).",
        )
        parser.add_argument(
            "--resize_filter",
            choices=tuple(imaging.RESIZE_FILTERS),
            default=_DEFAULTS.resize_filter,
            help="Filter, with time per photo vs bicubic (sharp): bilinear: 0.8x, softer; lanczos: 1.2x, "
            "sharpest, for detailed photos; area: 0.7x, fastest, averages (no ringing, like "
            "tf.image.resize 'area'), for large reductions (default: %(default)s).",
        )
        parser.add_argument(
            "--image_format",
            choices=imaging.IMAGE_FORMATS,
            default=_DEFAULTS.image_format,
            help="Encoding of the stored images (default: %(default)s).",
        )
        parser.add_argument(
            "--jpeg_quality",
            type=int,
            default=_DEFAULTS.jpeg_quality,
            help="JPEG quality 1..100 (default: %(default)s).",
        )
        parser.add_argument(
            "--keep_original",
            action="store_true",
            help="Store the source bytes untouched when the file is already in --image_format, "
            "upright, in the target color mode and needs no resizing.",
        )
        parser.add_argument(
            "--statistics",
            choices=imaging.STATISTICS_PIXELS,
            default=_DEFAULTS.statistics,
            help="Pixels the statistics count: before_encoding (default; free) or stored (a stored "
            "JPEG decoded again: slower).",
        )
        parser.add_argument(
            "--color",
            choices=imaging.COLORS,
            default=_DEFAULTS.color,
            help="rgb (3 channels) or grayscale (1 channel); transparency is composited "
            "on white (default: %(default)s).",
        )
        parser.add_argument(
            "--labels_file",
            help="Text file (local or s3://) with one class name per line: line N is label N. "
            "Images of other classes become error rows. Default: the sorted folder names.",
        )
        # No default here, so that --schema given with --format recordio (whose
        # records have no feature keys) can be refused; `record_schema` fills it in.
        parser.add_argument(
            "--schema",
            choices=schemas.SCHEMAS,
            help="Feature keys of the tf.train.Examples (--format tfrecord only). default: the "
            "image/... keys of TensorFlow's classic converters; simple: only 'image' and "
            f"'label' (default: {schemas.DEFAULT_SCHEMA}).",
        )
        parser.add_argument(
            "--max_pixels",
            type=int,
            default=_DEFAULTS.max_pixels,
            help="Images claiming more pixels than this are rejected before decoding "
            "(decompression-bomb limit, default: %(default)s).",
        )
        parser.add_argument(
            "--max_seconds_per_image",
            type=float,
            default=_DEFAULTS.max_seconds_per_image,
            help="An image still converting after this many seconds becomes a too_slow error "
            "row (default: %(default)s).",
        )
        parser.add_argument(
            "--min_size",
            type=int,
            default=_DEFAULTS.min_size,
            help="Images whose shorter side is below this many pixels become too_small error "
            "rows, not stored smaller than --image_size (never upscaled) (default: %(default)s).",
        )
        parser.add_argument(
            "--max_aspect_ratio",
            type=float,
            default=_DEFAULTS.max_aspect_ratio,
            help="Images whose longer side is more than this many times the shorter become "
            "extreme_aspect_ratio error rows (0: none; those above "
            f"{imaging.ELONGATED_ASPECT_RATIO}:1 are named in a warning) (default: %(default)g).",
        )
        parser.add_argument(
            "--decode_threads",
            type=int,
            default=0,
            help="Images decoded at once per worker; 0 means one per core: more only fight "
            "over Python's GIL (default: %(default)s).",
        )
        parser.add_argument(
            "--fetch_threads",
            type=int,
            default=0,
            help="Images read at once per worker; 0: --decode_threads locally, 16 on S3 (default: %(default)s).",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=0,
            help="Processes that decode and write shards, each with its own GIL; 0: one per core "
            "locally for shards of 500 images or more, 1 on Flink and Spark, which run a process "
            "per slot (default: %(default)s).",
        )
        parser.add_argument(
            "--log_level",
            default="WARNING",
            choices=("DEBUG", "INFO", "WARNING", "ERROR"),
            help="Logging level of the launcher (default: %(default)s).",
        )

    def validate(self):
        """Checks the values on their own (no file or network is touched);
        raises UsageError naming the flag of the first that is wrong."""
        if self.manifest:
            self._check_manifest()
        elif self.manifest_label_key:
            raise UsageError("--manifest_label_key names the label of a JSON lines --manifest: give one, or drop it")
        if not self.input:
            raise UsageError("--input is required: a folder or s3:// prefix of <label>/<image> files")
        if not self.output:
            raise UsageError("--output is required: a folder or s3:// prefix for the shards")
        try:
            shard.parse_num_shards(self.num_shards)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not self.splits_from_folders and not self.manifest:  # A manifest's splits: preflight.py.
            self.check_named_splits(self.ratio_splits())
        check_s3_endpoint(self.view_as(S3Options).s3_endpoint_url)
        self._check_part()
        self._check_splits()
        self._check_format()
        self._check_numbers()

    def _check_manifest(self):
        try:
            kind = manifest.manifest_kind(self.manifest)
        except ValueError as e:
            raise UsageError(f"--manifest {self.manifest}: {e}") from None
        if kind == manifest.JSON_LINES and not self.manifest_label_key:
            raise UsageError(
                "--manifest_label_key is required with a JSON lines manifest: the attribute that holds each label"
            )
        if kind != manifest.JSON_LINES and self.manifest_label_key:
            raise UsageError(f"--manifest_label_key is for JSON lines manifests; {self.manifest} is a {kind} file")
        given = [("--splits_from_folders", self.splits_from_folders), ("--label_from", self.label_from != label.PARENT)]
        for flag, _ in filter(lambda pair: pair[1], given):
            raise UsageError(f"--manifest gives the labels and any splits: drop {flag}")
        if not self.input:  # Relative paths resolve against the manifest's folder.
            self.input = manifest.default_base(self.manifest)

    def _check_part(self):
        if self.write_part is None:  # An empty value (an unset variable in a script) is refused below.
            return
        try:
            parts.parse_part(self.write_part)
        except ValueError as e:
            raise UsageError(f"--write_part: {e}") from None
        if self.writer == "beam":
            raise UsageError("--write_part needs the default writer: --writer beam cannot leave shards out")
        if self.plan:
            raise UsageError("--plan shows the whole run's plan: drop --write_part")
        if self.overwrite:
            raise UsageError(
                "--write_part adds to an unfinished dataset: give a fresh --output instead of --overwrite "
                "(the finishing run, given the same flags, would convert every shard again)"
            )
        if self.shard_size_mb:
            raise UsageError(
                "--write_part needs the same shards on every machine: give --num_shards, not --shard_size_mb "
                "(each machine would estimate its own record size)"
            )
        if not runs_locally(self):
            raise UsageError(
                "--write_part shares a run between machines that have no cluster: on a cluster, one job "
                "spreads over its workers (and parts there would cancel each other's jobs)"
            )

    def part(self):
        """The `parts.Part` --write_part asks for, or None (valid once `validate` passed)."""
        return parts.parse_part(self.write_part) if self.write_part is not None else None

    def _check_splits(self):
        for flag, ratio in (("--validation_ratio", self.validation_ratio), ("--test_ratio", self.test_ratio)):
            if not 0 <= ratio < 1:
                raise UsageError(f"{flag} must be at least 0 and below 1, got {ratio}")
        if self.validation_ratio + self.test_ratio >= 1:
            raise UsageError("--validation_ratio plus --test_ratio must leave some images for train")
        if self.splits_from_folders and (self.validation_ratio or self.test_ratio):
            raise UsageError(
                "--splits_from_folders takes the splits from the folders: drop --validation_ratio and --test_ratio"
            )
        if self.shard_size_mb < 0:
            raise UsageError(f"--shard_size_mb must be positive, got {self.shard_size_mb}")
        if self.shard_multiple < 1:
            raise UsageError(f"--shard_multiple must be at least 1, got {self.shard_multiple}")
        if self.writer == "beam" and (self.splits_from_folders or self.shard_size_mb):
            raise UsageError(
                "--writer beam needs its shard counts and splits before the run: "
                "use --num_shards and ratios, or the default writer"
            )
        if self.writer == "beam" and self.statistics == "stored":
            raise UsageError("--writer beam keeps no statistics: drop --statistics stored, or use the default writer")

    def _check_format(self):
        if self.record_format().has_schema:
            return
        if self.writer == "beam":
            raise UsageError(
                f"--format {self.format} needs the default writer: --writer beam writes "
                "TFRecord only (Beam's WriteToTFRecord)"
            )
        if self.schema:
            raise UsageError(
                f"--schema picks tf.train.Example feature keys, which --format {self.format} "
                "records do not have (an im2rec header and the image): drop --schema"
            )

    def _check_numbers(self):
        try:  # The image options' rules live with them (imaging.ImageSettings).
            self.image_settings()
        except ValueError as e:
            raise UsageError(str(e)) from None
        for flag, value, low, what in (
            ("--decode_threads", self.decode_threads, 0, "0 (auto) or more"),
            ("--fetch_threads", self.fetch_threads, 0, "0 (auto) or more"),
            ("--processes", self.processes, 0, "0 (auto) or more"),
            ("--manifest_range_bytes", self.manifest_range_bytes, 1, "at least 1"),
        ):
            if value < low:
                raise UsageError(f"{flag} must be {what}, got {value}")

    def check_named_splits(self, splits):
        """Per-split --num_shards names each split the run makes, and no other:
        a typo (valid=1) would otherwise leave that split at the default count."""
        counts = shard.parse_num_shards(self.num_shards)
        if None in counts or self.shard_size_mb:
            return
        made = ", ".join(sorted(splits)) or "none"
        unknown = sorted(set(counts) - set(splits))
        if unknown:
            raise UsageError(
                f"--num_shards names split {unknown[0]!r}, but this run makes only: {made}"
                + (
                    ""
                    if self.splits_from_folders or unknown[0] not in SPLITS
                    else f" (--{unknown[0]}_ratio makes the {unknown[0]} split)"
                )
            )
        missing = sorted(set(splits) - set(counts))
        if missing:
            raise UsageError(
                f"--num_shards gives no shard count for split {missing[0]!r}: name every "
                f"split this run makes ({made}), or give one number for all"
            )

    def ratio_splits(self):
        """The splits that --validation_ratio and --test_ratio make."""
        return [TRAIN] + [
            name for name, ratio in ((VALIDATION, self.validation_ratio), (TEST, self.test_ratio)) if ratio > 0
        ]

    def image_settings(self):
        """The `imaging.ImageSettings` these options ask for (valid once `validate` passed)."""
        return imaging.ImageSettings(
            image_size=self.image_size,
            resize_mode=self.resize_mode,
            resize_filter=self.resize_filter,
            image_format=self.image_format,
            jpeg_quality=self.jpeg_quality,
            color=self.color,
            keep_original=self.keep_original,
            max_pixels=self.max_pixels,
            max_seconds_per_image=self.max_seconds_per_image,
            min_size=self.min_size,
            max_aspect_ratio=self.max_aspect_ratio,
            statistics=self.statistics,
        )

    def record_format(self):
        """The `formats.RecordFormat` of --format."""
        return formats.get(self.format)

    def record_schema(self):
        """The tf.train.Example schema of a run, None for a format without
        feature keys (RecordIO: an im2rec header and the image)."""
        if not self.record_format().has_schema:
            return None
        return self.schema or schemas.DEFAULT_SCHEMA
