"""The conversion pipeline, its stages in order:

  MatchImages      list the files under --input (transforms/match.py)
  KeyByLabel       key each path by its class folder (label.py)
    or ReadManifest  both from --manifest's rows (manifest.py)
  ClassNames       the sorted class names, or --labels_file's (label.py)
  DedupeByContent  --dedupe: hash every file, keep one copy of each (dedupe.py)
  AssignSplits     give each image its split and a seeded hash (split.py)
  PlanShards       group the paths into shards, by their hash (shard.py),
                   their count recorded for a cluster's progress line
                   (RecordPlannedImages, shard_writer.py); with --write_part,
                   this part's shards only, and no stage after the next
                   (parts.py)
  WriteShardStreams  per shard: fetch, decode and resize, encode, write the
                   records in the --format, with progress records
                   (shard_writer.py, formats/, progress_records.py)
  FindDuplicates   group the records by file and by stored-image sha256
                   (find_duplicates.py; the report's rules in duplicates.py)
  Finalize         labels.txt, errors.jsonl, duplicates.jsonl and, last,
                   dataset_info.json with per-split statistics (dataset_info.py)

Only paths cross the shuffle before PlanShards' grouping: no image data ever
goes through one. `--writer beam` runs, after AssignSplits, the plain
stages instead of PlanShards, RecordPlannedImages, WriteShardStreams and
FindDuplicates: DecodeAndResize, EncodeExamples and Beam's WriteToTFRecord
(transforms/beam_writer/; TFRecord only), then Finalize. Every stage has an error output; all of them end in
errors.jsonl.
"""

import contextlib
import json
import os

from apache_beam import CombineGlobally
from apache_beam import Create
from apache_beam import Filter
from apache_beam import FlatMap
from apache_beam import Flatten
from apache_beam import Map
from apache_beam import combiners
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import AsSingleton

import pipeline
from pipeline.convert.options import ConvertOptions
from pipeline.convert.options import runs_locally
from transforms import imaging
from transforms.beam_writer.decode import DecodeAndResize
from transforms.beam_writer.encode import EncodeExamples
from transforms.beam_writer.write import WriteShards
from transforms.converting import Concurrency
from transforms.dataset_info import Finalize
from transforms.dedupe import GROUPS
from transforms.dedupe import REPORTS
from transforms.dedupe import DedupeByContent
from transforms.errors import ERRORS
from transforms.find_duplicates import LINES as DUPLICATE_LINES
from transforms.find_duplicates import REPORTS as DUPLICATE_REPORTS
from transforms.find_duplicates import FindDuplicates
from transforms.label import FOLDERS
from transforms.label import ClassNames
from transforms.label import FoldersOfMergedClasses
from transforms.label import KeyByLabel
from transforms.label import parse_labels_file
from transforms.manifest import CLASS_NAMES
from transforms.manifest import LINES
from transforms.manifest import AddManifestLines
from transforms.manifest import ClassesOfManifest
from transforms.manifest import LabelByClass
from transforms.manifest import ReadManifest
from transforms.match import MATCHED
from transforms.match import SKIPPED
from transforms.match import MatchImages
from transforms.paths import is_s3
from transforms.shard import EstimateRecordBytes
from transforms.shard import PlanShards
from transforms.shard import fixed_shard_count
from transforms.shard import parse_num_shards
from transforms.shard_processes import started_early
from transforms.shard_stream import ShardSettings
from transforms.shard_writer import AUTO_MIN_IMAGES_PER_PROCESS
from transforms.shard_writer import HASHES
from transforms.shard_writer import SHARDS
from transforms.shard_writer import RecordPlannedImages
from transforms.shard_writer import WriteShardStreams
from transforms.skipped import CountSkipped
from transforms.split import AssignSplits
from transforms.storage import Storage
from transforms.storage import s3_settings

# Concurrent GETs per worker from S3: they mostly wait on the network.
_S3_FETCH_THREADS = 16
_MIB = 1024 * 1024


def build(p, options):
    """Adds the whole conversion to pipeline `p`, configured by `options`."""
    convert = options.view_as(ConvertOptions)
    settings = convert.image_settings()
    s3 = s3_settings(options)
    workers = concurrency(convert, local=runs_locally(options))
    matched, keyed, class_names, placed = _match_label_split(p, convert, s3)

    write = _write_with_beam if convert.writer == "beam" else _write_as_streams
    shards, class_counts, write_errors, hashes = write(placed["placed"], class_names, convert, settings, s3, workers)
    if convert.part():
        return  # A part leaves its shards and their resume records; the finishing run the rest (parts.py).

    errors = _all_errors("AllErrors", matched, keyed[ERRORS], placed[ERRORS], write_errors)
    merged_classes = keyed[FOLDERS] | "FoldersOfMergedClasses" >> FoldersOfMergedClasses()
    shards | "Finalize" >> Finalize(
        convert.output,
        run_description(convert, settings),
        s3,
        class_names=class_names,
        class_counts=class_counts,
        errors=errors,
        skipped=matched[SKIPPED],
        matched=matched[MATCHED],
        merged_classes=merged_classes,
        duplicates=_duplicates(hashes, keyed),
    )


def _duplicates(hashes, keyed):
    """What duplicates.jsonl lists and dataset_info.json reports: the groups
    among the written records and those --dedupe removed copies of, as
    {"lines", "reports"}; None where nothing was hashed."""
    sources = []
    if hashes is not None:  # Not with --writer beam: Beam's sink hashes nothing.
        found = hashes | "FindDuplicates" >> FindDuplicates()
        sources.append((found[DUPLICATE_LINES], found[DUPLICATE_REPORTS]))
    if GROUPS in keyed:
        sources.append((keyed[GROUPS], keyed[REPORTS]))
    if not sources:
        return None
    return {
        "lines": tuple(lines for lines, _ in sources) | "DuplicateLines" >> Flatten(),
        "reports": tuple(reports for _, reports in sources) | "DuplicateReports" >> Flatten(),
    }


def build_plan(p, options, plan_path):
    """Adds the stages before decoding to pipeline `p`, and writes what they
    planned as JSON to the file `plan_path`, local or on S3 (see plan.py)."""
    convert = options.view_as(ConvertOptions)
    s3 = s3_settings(options)
    matched, keyed, class_names, split = _match_label_split(p, convert, s3)
    placed = split["placed"]
    record_bytes = placed | "EstimateRecordBytes" >> EstimateRecordBytes(convert.image_settings(), s3)
    shards = (
        placed
        | "PlanShards"
        >> PlanShards(
            parse_num_shards(convert.num_shards),
            convert.shard_size_mb * _MIB,
            record_bytes if convert.shard_size_mb else None,
            convert.shard_multiple,
        )
        | "ShardSizes" >> Map(lambda shard: [*shard[0][:2], len(list(shard[1]))])
        | "AllShards" >> combiners.ToList()
    )
    counts = (
        placed
        | "SplitAndClass" >> Map(lambda image: (image.split, image.label))
        | "CountClasses" >> combiners.Count.PerElement()
        | "AllCounts" >> combiners.ToList()
    )
    errors = _all_errors("PlanErrors", matched, keyed[ERRORS], split[ERRORS])

    def document(shards, counts, record_bytes, classes, failed, skipped):
        return {
            "shards": sorted(shards),
            "counts": sorted([*key, n] for key, n in counts),
            "record_bytes": record_bytes,
            "classes": list(classes),
            "failed": failed,
            "skipped": skipped,
        }

    (
        p
        | "Plan" >> Create([None])
        | "Document"
        >> Map(
            lambda _, *sides: document(*sides),
            AsSingleton(shards),
            AsSingleton(counts),
            AsSingleton(record_bytes),
            AsSingleton(class_names),
            AsSingleton(errors | "CountFailed" >> combiners.Count.Globally()),
            AsSingleton(matched[SKIPPED] | "CountSkipped" >> CombineGlobally(CountSkipped())),
        )
        | "WritePlan" >> Map(_write_json, plan_path, s3)
    )


def _write_json(document, path, s3_client_settings):
    Storage(s3_client_settings).write(path, json.dumps(document).encode("utf-8"))


def _match_label_split(p, convert, s3):
    """The stages every run starts with: match the files (or read the
    manifest), key each by its class, name the classes, give each image its
    split. Returns (matched, keyed, class_names, placed): `matched` has the
    outputs "images", ERRORS, SKIPPED, MATCHED (and LINES for a manifest),
    `keyed` "keyed", ERRORS, FOLDERS."""
    fixed_labels = read_fixed_labels(convert.labels_file)
    # Classes are named before --dedupe: the list does not depend on which copy is kept.
    if convert.manifest:
        matched, keyed, class_names = _read_manifest(p, convert, s3, fixed_labels)
    else:
        matched = p | "MatchImages" >> MatchImages(convert.input, s3)
        by_label = matched["images"] | "KeyByLabel" >> KeyByLabel(
            convert.input, fixed_labels, convert.label_from, convert.splits_from_folders
        )
        keyed = {"keyed": by_label.keyed, ERRORS: by_label[ERRORS], FOLDERS: by_label[FOLDERS]}
        class_names = keyed["keyed"] | "ClassNames" >> ClassNames(fixed_labels)
    rows = keyed["keyed"]
    if convert.dedupe:
        deduped = rows | "DedupeByContent" >> DedupeByContent(convert.input, s3)
        rows = deduped["keyed"]
        keyed = {**keyed, ERRORS: (keyed[ERRORS], deduped[ERRORS]) | "KeyAndDedupeErrors" >> Flatten()}
        keyed[GROUPS], keyed[REPORTS] = deduped[GROUPS], deduped[REPORTS]
    placed = rows | "AssignSplits" >> AssignSplits(
        convert.input,
        seed=convert.seed,
        validation_ratio=convert.validation_ratio,
        test_ratio=convert.test_ratio,
        splits_from_folders=convert.splits_from_folders,
    )
    return matched, keyed, class_names, placed


def _read_manifest(p, convert, s3, fixed_labels):
    """--manifest in place of MatchImages, KeyByLabel and ClassNames, with
    their outputs: (matched, keyed, class_names). Each row's label, as
    written, finds its class once the classes are known (manifest.py)."""
    read = p | "ReadManifest" >> ReadManifest(
        convert.manifest,
        base=convert.input,
        label_key=convert.manifest_label_key,
        class_names_given=fixed_labels is not None,
        s3_client_settings=s3,
        range_bytes=convert.manifest_range_bytes,
    )
    matched = {
        "images": read["keyed"],
        ERRORS: read[ERRORS],
        SKIPPED: p | "NothingSkipped" >> Create([]),  # Every row names an image to try.
        MATCHED: read["matched"],
        LINES: read[LINES],
    }
    classes = read["keyed"] | "ClassesOfManifest" >> ClassesOfManifest(fixed_labels, read[CLASS_NAMES])
    labelled = read["keyed"] | "LabelByClass" >> LabelByClass(classes)
    keyed = {"keyed": labelled.keyed, ERRORS: labelled[ERRORS], FOLDERS: p | "NoFolders" >> Create([])}
    return matched, keyed, classes | "ClassNames" >> Map(lambda classes: list(classes.names))


def _all_errors(name, matched, *errors):
    """Every stage's error rows as one PCollection; a manifest's name their line."""
    flat = (matched[ERRORS], *errors) | name >> Flatten()
    if LINES in matched:
        flat = flat | f"{name}/AddManifestLines" >> AddManifestLines(matched[LINES])
    return flat


def _write_as_streams(placed, class_names, convert, settings, s3, workers):
    """The default writer: plan shards from paths, then decode, encode and
    write each shard as one stream."""
    record_bytes = None
    if convert.shard_size_mb:
        record_bytes = placed | "EstimateRecordBytes" >> EstimateRecordBytes(settings, s3)
    # What a launcher's progress line on a cluster counts to.
    planned = placed | "RecordPlannedImages" >> RecordPlannedImages(convert.output, s3)
    shards = placed | "PlanShards" >> PlanShards(
        parse_num_shards(convert.num_shards), convert.shard_size_mb * _MIB, record_bytes, convert.shard_multiple
    )
    part = convert.part()
    if part:  # --write_part: this machine's shards only (parts.py).
        shards = shards | "ThisPart" >> Filter(lambda shard: part.holds(shard[0][1]))
    shard_settings = ShardSettings(
        output=convert.output,
        record_format=convert.record_format(),
        schema=convert.record_schema(),
        image_settings=settings,
        s3_client_settings=s3,
        fingerprint=json.dumps(run_description(convert, settings), sort_keys=True),
        reuse=not convert.overwrite,
    )
    written = shards | "WriteShardStreams" >> WriteShardStreams(
        shard_settings=shard_settings,
        class_names=class_names,
        concurrency=workers,
        planned=planned,
    )
    class_counts = written[SHARDS] | "ClassCounts" >> FlatMap(
        lambda shard: [((shard.split, label), n) for label, n in shard.per_class.items()]
    )
    return written[SHARDS], class_counts, written[ERRORS], written[HASHES]


def _write_with_beam(placed, class_names, convert, settings, s3, workers):
    """--writer beam, per split: DecodeAndResize, EncodeExamples, Beam's WriteToTFRecord."""
    num_shards = parse_num_shards(convert.num_shards)
    shards, class_counts, errors = [], [], []
    for split in convert.ratio_splits():
        images = (
            placed
            | f"{split}/Select" >> Filter(lambda image, s=split: image.split == s)
            | f"{split}/Key" >> Map(lambda image: (image.label, image.path))
        )
        decoded = images | f"{split}/DecodeAndResize" >> DecodeAndResize(convert.input, settings, s3, workers)
        records = decoded.images | f"{split}/EncodeExamples" >> EncodeExamples(class_names, convert.record_schema())
        shards.append(
            records
            | f"{split}/WriteShards"
            >> WriteShards(convert.output, split, fixed_shard_count(num_shards, split, convert.shard_multiple), s3)
        )
        class_counts.append(decoded.images | f"{split}/Count" >> Map(lambda image, s=split: ((s, image.label), 1)))
        errors.append(decoded.errors)
    return (
        tuple(shards) | "AllShards" >> Flatten(),
        tuple(class_counts) | "AllClassCounts" >> Flatten(),
        tuple(errors) | "WriteErrors" >> Flatten(),
        None,  # Beam's sink hashes nothing: no duplicate report.
    )


def run_description(convert, settings):
    """What dataset_info.json records of how the dataset was made (no secrets)."""
    return {
        "format": convert.format,
        "tool": {"name": "im2tfrecord", "version": pipeline.__version__},
        "source": convert.input,
        "seed": convert.seed,
        "writer": convert.writer,
        "label_from": convert.label_from if not convert.manifest else "manifest",
        **({"manifest": convert.manifest} if convert.manifest else {}),
        # Placement by content: part of what decides a shard's bytes (resume keys).
        **({"dedupe": True} if convert.dedupe else {}),
        "requested_splits": [] if convert.splits_from_folders else convert.ratio_splits(),
        **convert.record_format().layout(convert.record_schema()),
        "image": {
            "size": settings.image_size,
            "resize_mode": settings.resize_mode,
            "resize_filter": settings.resize_filter,
            "format": settings.image_format,
            "jpeg_quality": settings.jpeg_quality,
            "color": settings.color,
            "keep_original": settings.keep_original,
            "max_pixels": settings.max_pixels,
            "max_seconds": settings.max_seconds_per_image,
            "min_size": settings.min_size,
            "max_aspect_ratio": settings.max_aspect_ratio,
            "statistics": settings.statistics,
            "background": list(imaging.BACKGROUND),
        },
    }


def read_fixed_labels(labels_file):
    """The class list of `--labels_file`, or None when classes come from folders."""
    if not labels_file:
        return None
    with FileSystems.open(labels_file) as f:
        return parse_labels_file(f.read().decode("utf-8"))


def shard_processes_started_early(options):
    """For the run of `options`: its shard processes started while it plans,
    once the listing has found enough images for each process to have a
    shard worth one (shard_processes.started_early); nothing on a cluster,
    where workers are the runner's, or with --writer beam."""
    convert = options.view_as(ConvertOptions)
    if not runs_locally(options) or convert.writer == "beam":
        return contextlib.nullcontext()
    workers = concurrency(convert)
    return started_early(workers, after_matched=workers.processes * max(1, workers.min_images_per_process))


def concurrency(convert, local=True):
    """Reads, decodes and shard-writing processes at once per worker, from
    the options or the machine; `local`: the job runs on the local runner."""
    cores = os.cpu_count() or 1
    decode = convert.decode_threads or cores
    # Local reads are quick: one reader per decoder keeps them ahead. S3 GETs
    # mostly wait on the network: many at once overlap the waits.
    if convert.fetch_threads:
        fetch = convert.fetch_threads
    else:
        fetch = max(_S3_FETCH_THREADS, decode) if is_s3(convert.input) else decode
    # Flink and Spark start one worker process per slot themselves; locally,
    # one process per core writes big shards, each with its own GIL. Asked
    # for by number, processes write every shard.
    processes = convert.processes or (cores if local else 1)
    smallest = 0 if convert.processes else AUTO_MIN_IMAGES_PER_PROCESS
    return Concurrency(max(fetch, decode), decode, processes, min_images_per_process=smallest)
