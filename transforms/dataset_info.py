"""The last step of a run: side files, stale-file cleanup, then dataset_info.json.

It runs once, after every shard is in place and errors.jsonl and
duplicates.jsonl are written (each sorted in pieces by many workers:
sorted_file.py), and writes in this order: labels.txt, removal of the
files of ours (ownership.py) that this run did not write (shards of another
shard count or --format, what a killed run left), and last
dataset_info.json, whose presence marks a complete dataset. What it gets is
bounded by the shards, splits and classes (Outcome): statistics, warnings'
paths, error counts and the duplicate report come combined, not one entry
per image.

A shard's entry names its records file (`file`, with its size and sha256)
and, for RecordIO, its `index_file` (.idx) and `list_file` (.lst).

dataset_info.json is plain, sorted JSON with no timestamps, so identical runs
give identical files; readers (and our tests) use it instead of guessing.
"""

import dataclasses
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms import dataset_warnings as warns
from transforms import duplicates
from transforms import errors
from transforms import skipped
from transforms.find_duplicates import DuplicateReport
from transforms.imaging import ELONGATED
from transforms.layout import DATASET_INFO_FILE
from transforms.layout import DUPLICATES_FILE
from transforms.layout import ERRORS_FILE
from transforms.layout import LABELS_FILE
from transforms.layout import labels_file_bytes
from transforms.ownership import files_to_replace
from transforms.pixel_checks import FLAT
from transforms.pixel_checks import NOISE
from transforms.resume import is_done_record
from transforms.skipped import SkippedKinds
from transforms.sorted_file import WriteSortedLines
from transforms.statistics import Statistics
from transforms.statistics import summarize
from transforms.storage import Storage

# Classes (paths) named in a warning list, at most: the count says how many in all.
_WARNED_CLASSES = 100
_WARNED_PATHS = 100


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """What a finished run tells dataset_info.json, each part bounded by the
    shards, splits, classes or kinds, never by the images. `shards`: ShardInfos without their
    statistics, class counts and paths (_slim), which come combined:
    `statistics` (split -> Statistics.to_json() of its shards), `odd` (a
    content or shape kind -> {"count", "first": the first paths}), `smaller`
    ({"count", "smallest_side"} of the images stored smaller than asked, or
    None), `class_counts` ((split, class) -> images). `matched` is counted
    from the listing itself, not derived: if an image went missing between
    the listing and the shards, matched != written + failed + skipped says
    so. `errors_by_reason`: {reason: error rows}. `skipped`:
    dataset_info.json's "skipped" (skipped.SkippedKinds.to_json), None when
    nothing was skipped. `duplicates`:
    find_duplicates' report, None where nothing was hashed."""

    shards: tuple
    statistics: dict
    odd: dict
    smaller: dict
    class_counts: dict
    errors_by_reason: dict
    skipped: dict
    matched: int
    merged_classes: tuple = ()
    duplicates: dict = None


def build_dataset_info(run, class_names, outcome):
    """The dataset_info.json document (a dict) of a finished run."""
    splits = {}
    for shard in sorted(outcome.shards, key=lambda s: (s.split, s.index)):
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
    for (split, label), count in outcome.class_counts.items():
        splits[split].setdefault("per_class", {})[label] = count
    for name, split in splits.items():
        combined = Statistics.from_json(outcome.statistics.get(name))
        if combined and combined.images:
            split["statistics"] = {"pixels_counted": run["image"]["statistics"], **summarize(combined)}
    by_reason = dict(sorted(outcome.errors_by_reason.items()))
    written = sum(split["num_examples"] for split in splits.values())
    failed = sum(by_reason.values())
    return {
        **run,
        "labels": list(class_names),
        "splits": splits,
        "counts": {
            "matched": outcome.matched,
            "written": written,
            "failed": failed,
            "skipped": skipped.count(outcome.skipped),
        },
        "errors": {"file": ERRORS_FILE, "count": failed, "by_reason": by_reason},
        **({"skipped": outcome.skipped} if outcome.skipped else {}),
        **({"duplicates": outcome.duplicates} if outcome.duplicates is not None else {}),
        **_warnings(run, class_names, splits, outcome),
    }


def _warnings(run, class_names, splits, outcome):
    """What the summary warns about; only when there is something to say, so
    that a clean dataset's file stays as it was."""
    warnings = {}
    written = {label for split in splits.values() for label, n in split.get("per_class", {}).items() if n}
    without = [label for label in class_names if label not in written]
    if without:  # Every image failed, or a --labels_file class had no folder.
        warnings[warns.CLASSES_WITHOUT_IMAGES] = {"count": len(without), "first": without[:_WARNED_CLASSES]}
    if outcome.merged_classes:
        warnings[warns.CLASSES_FROM_SEVERAL_FOLDERS] = list(outcome.merged_classes)
    warnings.update(class_warnings(class_names, {name: split.get("per_class", {}) for name, split in splits.items()}))
    if any(split["num_examples"] for split in splits.values()):  # Else the run's own error says it all.
        empty = [split for split in run.get("requested_splits", []) if split not in splits]
        if empty:
            warnings[warns.EMPTY_SPLITS] = empty
    failed = sorted(name for name, split in splits.items() if not split["num_examples"])
    if failed:  # Planned from the listing, then every image of it failed.
        warnings[warns.SPLITS_WITHOUT_IMAGES] = failed
    small = [
        {"split": name, "class": label, "images": count, "shards": split["num_shards"]}
        for name, split in sorted(splits.items())
        for label, count in sorted(split.get("per_class", {}).items())
        if count < split["num_shards"]
    ]
    if small:
        warnings[warns.CLASSES_WITH_FEWER_IMAGES_THAN_SHARDS] = {"count": len(small), "first": small[:_WARNED_CLASSES]}
    if outcome.smaller:
        warnings[warns.IMAGES_SMALLER_THAN_REQUESTED] = outcome.smaller
    for kind, name in (
        (FLAT, warns.IMAGES_FLAT),
        (NOISE, warns.IMAGES_LIKE_NOISE),
        (ELONGATED, warns.IMAGES_ELONGATED),
    ):
        if kind in outcome.odd:
            warnings[name] = outcome.odd[kind]
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
        warnings[warns.CLASSES_DIFFERING_ONLY_IN_CASE] = clashes[:_WARNED_CLASSES]
    if len(per_class) > 1:
        splits_of = {}
        for name, counts in sorted(per_class.items()):
            for label, count in counts.items():
                if count:
                    splits_of.setdefault(label, []).append(name)
        alone = sorted((label, names[0]) for label, names in splits_of.items() if len(names) == 1)
        if alone:  # Evaluated on a class it never trained on, or trained on one never evaluated.
            warnings[warns.CLASSES_IN_ONE_SPLIT] = {
                "count": len(alone),
                "first": [{"class": label, "split": name} for label, name in alone[:_WARNED_CLASSES]],
            }
    return warnings


def _slim(shard):
    """A ShardInfo without what comes combined (Outcome): its entry only."""
    return dataclasses.replace(shard, per_class=None, odd_content=None, statistics=None)


# The kinds of input _CombineOutcome adds up (_Part.kind).
_SHARD = "shard"  # A ShardInfo: its statistics, odd paths, images smaller than asked.
_CLASS_COUNT = "class_count"  # ((split, class), images).
_ERROR = "error"  # An error row: its reason.
_SKIPPED = "skipped"  # A path the run skipped: its kind (skipped.kind).


@dataclasses.dataclass(frozen=True)
class _Part:
    """One input of the outcome's combine: what `value` is, and it."""

    kind: str
    value: object


class _Totals:
    """The parts of an Outcome, combined: an entry per shard, the rest
    bounded by the splits, classes, reasons or kinds (a warning keeps its
    first _WARNED_PATHS paths)."""

    def __init__(self):
        self.shards = []  # Their entries, slim (_slim).
        self.statistics = {}  # split -> Statistics
        self.odd = {}  # kind -> [count, the first paths, sorted]
        self.smaller = [0, None]  # images stored smaller than asked, the smallest side
        self.class_counts = {}
        self.errors_by_reason = {}
        self.skipped = SkippedKinds()

    def add(self, part):
        if part.kind == _SHARD:
            shard = part.value
            self.shards.append(_slim(shard))
            if shard.statistics:
                self._add_statistics(shard.split, Statistics.from_json(shard.statistics))
            for kind, paths in (shard.odd_content or {}).items():
                self._add_odd(kind, len(paths), paths)
            if shard.smaller_than_requested:
                self._add_smaller(shard.smaller_than_requested, shard.smallest_side)
        elif part.kind == _CLASS_COUNT:
            key, count = part.value
            self.class_counts[key] = self.class_counts.get(key, 0) + count
        elif part.kind == _ERROR:
            self.errors_by_reason[part.value] = self.errors_by_reason.get(part.value, 0) + 1
        elif part.kind == _SKIPPED:
            self.skipped.add(part.value)
        else:
            raise ValueError(f"unknown part of an outcome: {part.kind!r}")
        return self

    def merge(self, other):
        self.shards += other.shards
        for split, statistics in other.statistics.items():
            self._add_statistics(split, statistics)
        for kind, (count, first) in other.odd.items():
            self._add_odd(kind, count, first)
        if other.smaller[0]:
            self._add_smaller(*other.smaller)
        for key, count in other.class_counts.items():
            self.class_counts[key] = self.class_counts.get(key, 0) + count
        for reason, count in other.errors_by_reason.items():
            self.errors_by_reason[reason] = self.errors_by_reason.get(reason, 0) + count
        self.skipped.merge(other.skipped)
        return self

    def parts(self):
        """Outcome's combined fields."""
        count, side = self.smaller
        return {
            "shards": tuple(sorted(self.shards, key=lambda shard: (shard.split, shard.index))),
            "statistics": {split: total.to_json() for split, total in self.statistics.items()},
            "odd": {kind: {"count": count, "first": first} for kind, (count, first) in self.odd.items()},
            "smaller": {"count": count, "smallest_side": side} if count else None,
            "class_counts": dict(self.class_counts),
            "errors_by_reason": dict(self.errors_by_reason),
            "skipped": self.skipped.to_json(),
        }

    def _add_statistics(self, split, statistics):
        # Into totals of our own: Statistics.from_json keeps the input's
        # dicts, and a combine must not change its inputs.
        self.statistics.setdefault(split, Statistics()).merge(statistics)

    def _add_odd(self, kind, count, paths):
        total, first = self.odd.get(kind, (0, []))
        self.odd[kind] = [total + count, sorted([*first, *paths])[:_WARNED_PATHS]]

    def _add_smaller(self, count, side):
        total, smallest = self.smaller
        self.smaller = [total + count, side if smallest is None else min(smallest, side)]


class _CombineOutcome(beam.CombineFn):
    """_Parts -> Outcome's combined fields (_Totals.parts). One combine for
    all of them: on Beam's local runner each combine of its own costs
    bundles of its own (bench/bench_phases.py)."""

    def create_accumulator(self):
        return _Totals()

    def add_input(self, totals, part):
        return totals.add(part)

    def merge_accumulators(self, all_totals):
        all_totals = iter(all_totals)
        first = next(all_totals, None) or _Totals()
        for other in all_totals:
            first.merge(other)
        return first

    def extract_output(self, totals):
        return totals.parts()


class _Finalize(beam.DoFn):
    def __init__(self, output, run, s3_client_settings, report_duplicates):
        self._report_duplicates = report_duplicates
        self._output = output
        self._run = run
        self._s3_client_settings = s3_client_settings

    def setup(self):
        self._storage = Storage(self._s3_client_settings)

    def process(self, outcome, class_names, errors_written, duplicates_written):
        def path(name):
            return FileSystems.join(self._output, name)

        shards = outcome.shards
        self._storage.write(path(LABELS_FILE), labels_file_bytes(class_names))
        keep = {LABELS_FILE, ERRORS_FILE, DATASET_INFO_FILE} | {f for s in shards for f in s.files()}
        if self._report_duplicates:  # Written before, as errors.jsonl was.
            keep.add(DUPLICATES_FILE)
        names = self._storage.list_folder(self._output)
        stale = sorted(files_to_replace(self._storage, self._output, names) - keep)
        self._storage.delete([path(name) for name in stale])
        info = build_dataset_info(self._run, class_names, outcome)
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
    `duplicates`: {"lines": duplicates.jsonl's lines, "reports": a
    duplicates.GroupReport per group}, or None where the writer hashed
    nothing (no duplicates.jsonl, no report). What reaches the last step is
    bounded (Outcome): one entry per shard, the rest combined.
    """

    def __init__(
        self,
        output,
        run,
        s3_client_settings,
        *,
        class_names,
        class_counts,
        errors,
        skipped,
        matched,
        merged_classes,
        duplicates,
    ):
        super().__init__()
        self._output = output
        self._run = run
        self._s3_client_settings = s3_client_settings
        self._class_names = class_names
        self._class_counts = class_counts
        self._errors = errors
        self._skipped = skipped
        self._matched = matched
        self._merged_classes = merged_classes
        self._duplicates = duplicates

    def expand(self, shards):
        p = shards.pipeline
        totals = (
            (
                shards | "ShardParts" >> beam.Map(lambda shard: _Part(_SHARD, shard)),
                self._class_counts | "ClassCountParts" >> beam.Map(lambda count: _Part(_CLASS_COUNT, count)),
                self._errors | "ErrorParts" >> beam.Map(lambda row: _Part(_ERROR, row["reason"])),
                self._skipped | "SkippedParts" >> beam.Map(lambda kind: _Part(_SKIPPED, kind)),
            )
            | "AllParts" >> beam.Flatten()
            | "Totals" >> beam.CombineGlobally(_CombineOutcome())
        )
        errors_written = (
            self._errors
            | "ErrorLines" >> beam.Map(errors.file_line)
            | "WriteErrorsFile" >> WriteSortedLines(self._output, ERRORS_FILE, self._s3_client_settings)
        )
        if self._duplicates is None:  # --writer beam: no record was hashed.
            report = p | "NoDuplicateReport" >> beam.Create([None])
            duplicates_written = p | "NoDuplicatesFile" >> beam.Create([None])
        else:
            report = self._duplicates["reports"] | "DuplicateReport" >> DuplicateReport()
            duplicates_written = (
                self._duplicates["lines"]
                | "DuplicateLines" >> beam.Map(duplicates.file_line)
                | "WriteDuplicatesFile" >> WriteSortedLines(self._output, DUPLICATES_FILE, self._s3_client_settings)
            )
        return (
            totals
            | "Outcome"
            >> beam.Map(
                lambda totals, **parts: Outcome(**totals, **parts),
                matched=beam.pvalue.AsSingleton(self._matched),
                merged_classes=beam.pvalue.AsSingleton(self._merged_classes),
                duplicates=beam.pvalue.AsSingleton(report),
            )
            | "Write"
            >> beam.ParDo(
                _Finalize(self._output, self._run, self._s3_client_settings, self._duplicates is not None),
                beam.pvalue.AsSingleton(self._class_names),
                beam.pvalue.AsSingleton(errors_written),
                beam.pvalue.AsSingleton(duplicates_written),
            )
        )
