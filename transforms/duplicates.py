"""Exact duplicates among the written images: within a class, across classes, across splits.

The same photo in train and validation inflates validation accuracy
(leakage); the same bytes under two labels is a labelling error; copies
within a class weigh that image twice. Web-scraped sets are full of all
three. Every record carries two sha256 hashes, both computed where the bytes
are in memory anyway: of the source file (converting.py) and of the stored,
re-encoded image (here). Images are grouped by each: the file hash finds
copies of one file, the stored hash also finds different files that became
the same record (a PNG and a BMP of the same pixels).

Grouping (find_duplicates.py) is by the hash, spread over the workers like
any other; a group bigger than a worker should hold (a placeholder copied
100,000 times) comes in pieces (grouping.py), each a line of
duplicates.jsonl with the group's `copies_total`, its kinds tallied over all
of it (`KindsTally`). Only a small `GroupReport` of each group reaches the
last step, and of those only the counts and the first few (`ReportTally`).
Free of Beam: shard-writing processes hash records without importing it.
"""

import json
import typing

from transforms.layout import DUPLICATES_FILE
from transforms.sorted_lines import Line
from transforms.sorted_lines import file_bytes

FILE, STORED = "file", "stored_image"  # What a group's images have in common.
WITHIN_CLASS, ACROSS_CLASSES, ACROSS_SPLITS = "within_class", "across_classes", "across_splits"
KINDS = (ACROSS_SPLITS, ACROSS_CLASSES, WITHIN_CLASS)  # Worst first: the summary's order.
# Paths of duplicates named in dataset_info.json and the summary; all are in duplicates.jsonl.
REPORTED_PATHS = 20


class ImageHashes(typing.NamedTuple):
    """One written record's hashes and place."""

    source_sha256: str
    stored_sha256: str
    split: str
    label: str
    relative_path: str

    @classmethod
    def of(cls, image, split, converted):
        return cls(converted.source_sha256, converted.stored_sha256, split, image.label, image.relative_path)


def kinds_of(copies):
    """The kinds of duplication among `copies` (dicts with split, label)."""
    tally = KindsTally()
    for copy in copies:
        tally.add(copy["split"], copy["label"])
    return tally.kinds()


class KindsTally:
    """What the kinds of a group's duplication depend on, in memory bounded
    by the splits and classes, not the copies: the splits seen, each label
    counted up to 2, and up to 2 of the distinct source files."""

    def __init__(self):
        self.splits, self.labels, self.sources = set(), {}, set()

    def add(self, split, label, source=None):
        self.splits.add(split)
        self.labels[label] = min(self.labels.get(label, 0) + 1, 2)
        if source is not None and len(self.sources) < 2:
            self.sources.add(source)
        return self

    def merge(self, other):
        self.splits |= other.splits
        for label, count in other.labels.items():
            self.labels[label] = min(self.labels.get(label, 0) + count, 2)
        self.sources = set(sorted(self.sources | other.sources)[:2])
        return self

    def kinds(self):
        kinds = []
        if len(self.splits) > 1:
            kinds.append(ACROSS_SPLITS)
        if len(self.labels) > 1:
            kinds.append(ACROSS_CLASSES)
        if any(count > 1 for count in self.labels.values()):
            kinds.append(WITHIN_CLASS)
        return kinds


def copy_of(row):
    """A copy as duplicates.jsonl lists it, of a record's ImageHashes."""
    return {"path": row.relative_path, "label": row.label, "split": row.split}


def group(keyed, basis):
    """A (sha256, [ImageHashes]) grouping -> [the duplicate group's dict], or
    [] for a single image (or, by STORED, for copies of a single file)."""
    sha256, rows = keyed
    rows = list(rows)
    if len(rows) < 2 or (basis == STORED and len({row.source_sha256 for row in rows}) == 1):
        return []  # By STORED, one file's copies: its FILE group says it.
    copies = sorted((copy_of(row) for row in rows), key=lambda copy: (copy["path"], copy["split"], copy["label"]))
    return [{"basis": basis, "sha256": sha256, "kinds": kinds_of(copies), "copies": copies}]


def _group_order(group):
    return group["copies"][0]["path"], group["basis"], group["sha256"]


def file_line(group):
    """A group's line of duplicates.jsonl, sorted by its first path, basis
    and hash, so reruns give the same file (written by sorted_file.WriteSortedLines)."""
    return Line(key=_group_order(group), text=json.dumps(group, sort_keys=True, ensure_ascii=False))


def duplicates_file_bytes(groups):
    """duplicates.jsonl of `groups`, in one piece (what the pieces add up to)."""
    return file_bytes(file_line(group) for group in groups)


class GroupReport(typing.NamedTuple):
    """What the report needs of one group: its first copies by path, not all."""

    basis: str
    sha256: str
    kinds: tuple
    count: int  # Copies in all.
    copies: tuple  # The first REPORTED_PATHS copies, by path.
    kept: str = None  # The path --dedupe wrote, for its groups.


def group_report(group):
    """The GroupReport of a whole group's dict (a line of duplicates.jsonl)."""
    return GroupReport(
        group["basis"],
        group["sha256"],
        tuple(group["kinds"]),
        group.get("copies_total", len(group["copies"])),
        tuple(group["copies"][:REPORTED_PATHS]),
        group.get("kept"),
    )


def _shown_first(group):
    """Worst kind first; then as duplicates.jsonl orders its lines."""
    return min(KINDS.index(kind) for kind in group.kinds), group.copies[0]["path"], group.basis, group.sha256


class ReportTally:
    """dataset_info.json's "duplicates", tallied group by group in bounded
    memory: counts in all and by kind, and the REPORTED_PATHS groups shown
    first (each shows at least 2 paths, so no more can be shown)."""

    def __init__(self):
        self.groups = self.images = self.removed = 0
        self.by_kind = dict.fromkeys(KINDS, 0)
        self.first = []

    def add(self, group):
        self.groups += 1
        self.images += group.count
        self.removed += group.count - 1 if group.kept is not None else 0  # Copies --dedupe did not write.
        for kind in group.kinds:
            self.by_kind[kind] += 1
        self.first = sorted([*self.first, group], key=_shown_first)[:REPORTED_PATHS]
        return self

    def merge(self, other):
        self.groups += other.groups
        self.images += other.images
        self.removed += other.removed
        for kind, count in other.by_kind.items():
            self.by_kind[kind] += count
        self.first = sorted([*self.first, *other.first], key=_shown_first)[:REPORTED_PATHS]
        return self

    def report(self):
        """Group and image counts in all and by kind (a group may be of
        several kinds), and the first groups, up to REPORTED_PATHS paths in
        all (the summary shows them): a bigger group lists its first copies
        and its `copies_total`."""
        first, paths = [], 0
        for group in self.first:
            if paths >= REPORTED_PATHS:
                break
            shown = {"basis": group.basis, "kinds": list(group.kinds)}
            if group.kept is not None:
                shown["kept"] = group.kept
            shown["copies"] = list(group.copies[: max(2, REPORTED_PATHS - paths)])
            if len(shown["copies"]) < group.count:
                shown["copies_total"] = group.count
            first.append(shown)
            paths += len(shown["copies"])
        return {
            "file": DUPLICATES_FILE,
            "groups": self.groups,
            "images": self.images,
            "groups_by_kind": self.by_kind,
            "removed": self.removed,
            "first": first,
        }


def report(groups):
    """dataset_info.json's "duplicates" of these group dicts (ReportTally)."""
    tally = ReportTally()
    for group in groups:
        tally.add(group_report(group))
    return tally.report()
