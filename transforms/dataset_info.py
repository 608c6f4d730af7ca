"""The last step of a run: side files, stale-file cleanup, then dataset_info.json.

It runs once, after every shard is in place, and writes in this order:
labels.txt, errors.jsonl, duplicates.jsonl, removal of the files of ours (ownership.py) that
this run did not write (shards of another shard count or --format, what a
killed run left), and last dataset_info.json, whose presence marks a complete
dataset.

A shard's entry names its records file (`file`, with its size and sha256)
and, for RecordIO, its `index_file` (.idx) and `list_file` (.lst).

dataset_info.json is plain, sorted JSON with no timestamps, so identical runs
give identical files; readers (and our tests) use it instead of guessing.
"""

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms import duplicates
from transforms.errors import errors_file_bytes
from transforms.imaging import ELONGATED
from transforms.label import labels_file_bytes
from transforms.layout import DATASET_INFO_FILE
from transforms.layout import DUPLICATES_FILE
from transforms.layout import ERRORS_FILE
from transforms.layout import LABELS_FILE
from transforms.ownership import files_to_replace
from transforms.pixel_checks import FLAT
from transforms.pixel_checks import NOISE
from transforms.resume import is_done_record
from transforms.statistics import Statistics
from transforms.statistics import summarize
from transforms.storage import Storage

# Classes (paths) named in a warning list, at most: the count says how many in all.
_WARNED_CLASSES = 100
_WARNED_PATHS = 100


def build_dataset_info(
    run, class_names, shards, class_counts, errors, skipped, matched, merged_classes=(), duplicate_groups=None
):
    """The dataset_info.json document (a dict) of a finished run. `matched` is
    counted from the listing itself, not derived: if an image went missing
    between the listing and the shards, matched != written + failed + skipped
    says so."""
    splits = {}
    for shard in sorted(shards, key=lambda s: (s.split, s.index)):
        split = splits.setdefault(shard.split, {"num_examples": 0, "num_bytes": 0, "shards": []})
        split["num_shards"] = shard.num_shards
        split["num_examples"] += shard.num_examples
        split["num_bytes"] += shard.num_bytes
        split["shards"].append(
            {
                "file": shard.file,
                "num_examples": shard.num_examples,
                "num_bytes": shard.num_bytes,
                "sha256": shard.sha256,
                **(shard.side_files or {}),
            }
        )
    for (split, label), count in class_counts.items():
        splits[split].setdefault("per_class", {})[label] = count
    for name, split in splits.items():
        combined = Statistics()
        for shard in shards:
            if shard.split == name:
                combined.merge(Statistics.from_json(shard.statistics))
        if combined.images:
            split["statistics"] = summarize(combined)
    by_reason = {}
    for row in errors:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    written = sum(split["num_examples"] for split in splits.values())
    return {
        **run,
        "labels": list(class_names),
        "splits": splits,
        "counts": {"matched": matched, "written": written, "failed": len(errors), "skipped": skipped},
        "errors": {"file": ERRORS_FILE, "count": len(errors), "by_reason": by_reason},
        **({"duplicates": duplicates.report(duplicate_groups)} if duplicate_groups is not None else {}),
        **_warnings(run, class_names, splits, shards, merged_classes),
    }


def _warnings(run, class_names, splits, shards, merged_classes):
    """What the summary warns about; only when there is something to say, so
    that a clean dataset's file stays as it was."""
    warnings = {}
    written = {label for split in splits.values() for label, n in split.get("per_class", {}).items() if n}
    without = [label for label in class_names if label not in written]
    if without:  # Every image failed, or a --labels_file class had no folder.
        warnings["classes_without_images"] = {"count": len(without), "first": without[:_WARNED_CLASSES]}
    if merged_classes:
        warnings["classes_from_several_folders"] = list(merged_classes)
    warnings.update(class_warnings(class_names, {name: split.get("per_class", {}) for name, split in splits.items()}))
    if any(split["num_examples"] for split in splits.values()):  # Else the run's own error says it all.
        empty = [split for split in run.get("requested_splits", []) if split not in splits]
        if empty:
            warnings["empty_splits"] = empty
    failed = sorted(name for name, split in splits.items() if not split["num_examples"])
    if failed:  # Planned from the listing, then every image of it failed.
        warnings["splits_without_images"] = failed
    small = [
        {"split": name, "class": label, "images": count, "shards": split["num_shards"]}
        for name, split in sorted(splits.items())
        for label, count in sorted(split.get("per_class", {}).items())
        if count < split["num_shards"]
    ]
    if small:
        warnings["classes_with_fewer_images_than_shards"] = {"count": len(small), "first": small[:_WARNED_CLASSES]}
    short = [shard for shard in shards if shard.smaller_than_requested]
    if short:
        warnings["images_smaller_than_requested"] = {
            "count": sum(shard.smaller_than_requested for shard in short),
            "smallest_side": min(shard.smallest_side for shard in short),
        }
    for kind, name in ((FLAT, "images_flat"), (NOISE, "images_like_noise"), (ELONGATED, "images_elongated")):
        paths = sorted(path for shard in shards for path in (shard.odd_content or {}).get(kind, ()))
        if paths:
            warnings[name] = {"count": len(paths), "first": paths[:_WARNED_PATHS]}
    return {"warnings": warnings} if warnings else {}


def class_warnings(class_names, per_class):
    """The warnings about how the classes are named and spread, from their
    names and each split's images per class ({split: {class: count}}): a
    real run's and --plan's alike."""
    warnings = {}
    by_case = {}
    for label in class_names:
        by_case.setdefault(label.casefold(), []).append(label)
    clashes = [sorted(labels) for _, labels in sorted(by_case.items()) if len(labels) > 1]
    if clashes:  # Dogs/ and dogs/: two folders on S3 or Linux, one on macOS or Windows.
        warnings["classes_differing_only_in_case"] = clashes[:_WARNED_CLASSES]
    if len(per_class) > 1:
        splits_of = {}
        for name, counts in sorted(per_class.items()):
            for label, count in counts.items():
                if count:
                    splits_of.setdefault(label, []).append(name)
        alone = sorted((label, names[0]) for label, names in splits_of.items() if len(names) == 1)
        if alone:  # Evaluated on a class it never trained on, or trained on one never evaluated.
            warnings["classes_in_one_split"] = {
                "count": len(alone),
                "first": [{"class": label, "split": name} for label, name in alone[:_WARNED_CLASSES]],
            }
    return warnings


class _Finalize(beam.DoFn):
    def __init__(self, output, run, s3_client_settings, report_duplicates):
        self._report_duplicates = report_duplicates
        self._output = output
        self._run = run
        self._s3_client_settings = s3_client_settings

    def setup(self):
        self._storage = Storage(self._s3_client_settings)

    def process(self, shards, class_names, class_counts, errors, skipped, matched, merged_classes, duplicate_groups):
        def path(name):
            return FileSystems.join(self._output, name)

        self._storage.write(path(LABELS_FILE), labels_file_bytes(class_names))
        self._storage.write(path(ERRORS_FILE), errors_file_bytes(errors))
        keep = {LABELS_FILE, ERRORS_FILE, DATASET_INFO_FILE} | {f for s in shards for f in s.files()}
        if self._report_duplicates:
            self._storage.write(path(DUPLICATES_FILE), duplicates.duplicates_file_bytes(duplicate_groups))
            keep.add(DUPLICATES_FILE)
        else:
            duplicate_groups = None
        names = self._storage.list_folder(self._output)
        stale = sorted(files_to_replace(self._storage, self._output, names) - keep)
        self._storage.delete([path(name) for name in stale])
        info = build_dataset_info(
            self._run, class_names, shards, class_counts, errors, skipped, matched, merged_classes, duplicate_groups
        )
        self._storage.write(
            path(DATASET_INFO_FILE), (json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        )
        # Complete now: the shards' resume records have served.
        self._storage.delete([path(name) for name in names if is_done_record(name)])
        yield info


class Finalize(beam.PTransform):
    """ShardInfos (+ side inputs) -> the finished dataset's info dict.

    `run` is the part of dataset_info.json fixed before the run: format,
    source, seed, writer, record layout, image settings, tool version.
    `duplicate_groups`: FindDuplicates' output, or None where the writer
    hashed nothing (no duplicates.jsonl, no report).
    """

    def __init__(
        self,
        output,
        run,
        s3_client_settings,
        class_names,
        class_counts,
        errors,
        skipped,
        matched,
        merged_classes,
        duplicate_groups,
    ):
        super().__init__()
        self._duplicate_groups = duplicate_groups
        self._matched = matched
        self._merged_classes = merged_classes
        self._output = output
        self._run = run
        self._s3_client_settings = s3_client_settings
        self._class_names = class_names
        self._class_counts = class_counts
        self._errors = errors
        self._skipped = skipped

    def expand(self, shards):
        duplicate_groups = self._duplicate_groups
        if duplicate_groups is None:  # --writer beam: no record was hashed.
            duplicate_groups = shards.pipeline | "NoDuplicateReport" >> beam.Create([])
        return (
            shards
            | "AllShards" >> beam.combiners.ToList()
            | "Write"
            >> beam.ParDo(
                _Finalize(self._output, self._run, self._s3_client_settings, self._duplicate_groups is not None),
                beam.pvalue.AsSingleton(self._class_names),
                beam.pvalue.AsDict(self._class_counts | "SumClassCounts" >> beam.CombinePerKey(sum)),
                beam.pvalue.AsList(self._errors),
                beam.pvalue.AsSingleton(self._skipped | "CountSkipped" >> beam.combiners.Count.Globally()),
                beam.pvalue.AsSingleton(self._matched),
                beam.pvalue.AsSingleton(self._merged_classes),
                beam.pvalue.AsList(duplicate_groups),
            )
        )
