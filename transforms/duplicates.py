"""Exact duplicates among the written images: within a class, across classes, across splits.

The same photo in train and validation inflates validation accuracy
(leakage); the same bytes under two labels is a labelling error; copies
within a class weigh that image twice. Web-scraped sets are full of all
three. Every record carries two sha256 hashes, both computed where the bytes
are in memory anyway: of the source file (converting.py) and of the stored,
re-encoded image (here). Images are grouped by each: the file hash finds
copies of one file, the stored hash also finds different files that became
the same record (a PNG and a BMP of the same pixels).

Grouping (find_duplicates.py) is a GroupByKey on the hash, spread over the
workers like any other; only groups of two or more reach the last step, so
its memory grows with the duplicates, not with the dataset. Free of Beam:
shard-writing processes hash records without importing it.
"""

import hashlib
import json
import typing

from transforms.layout import DUPLICATES_FILE

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
        stored = hashlib.sha256(converted.encoded).hexdigest()
        return cls(converted.source_sha256, stored, split, image.label, image.relative_path)


def kinds_of(copies):
    """The kinds of duplication among `copies` (dicts with split, label)."""
    labels = [copy["label"] for copy in copies]
    kinds = []
    if len({copy["split"] for copy in copies}) > 1:
        kinds.append(ACROSS_SPLITS)
    if len(set(labels)) > 1:
        kinds.append(ACROSS_CLASSES)
    if len(set(labels)) < len(labels):
        kinds.append(WITHIN_CLASS)
    return kinds


def group(keyed, basis):
    """A (sha256, [ImageHashes]) grouping -> [the duplicate group's dict], or
    [] for a single image (or, by STORED, for copies of a single file)."""
    sha256, rows = keyed
    rows = list(rows)
    if len(rows) < 2 or (basis == STORED and len({row.source_sha256 for row in rows}) == 1):
        return []  # By STORED, one file's copies: its FILE group says it.
    copies = sorted(
        ({"path": row.relative_path, "label": row.label, "split": row.split} for row in rows),
        key=lambda copy: (copy["path"], copy["split"], copy["label"]),
    )
    return [{"basis": basis, "sha256": sha256, "kinds": kinds_of(copies), "copies": copies}]


def sorted_groups(groups):
    return sorted(groups, key=lambda group: (group["copies"][0]["path"], group["basis"], group["sha256"]))


def duplicates_file_bytes(groups):
    """duplicates.jsonl: one sorted JSON line per group, so reruns give the same file."""
    lines = [json.dumps(group, sort_keys=True, ensure_ascii=False) for group in sorted_groups(groups)]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def report(groups):
    """dataset_info.json's "duplicates": group and image counts in all and by
    kind (a group may be of several kinds), and the first groups, worst kind
    first, up to REPORTED_PATHS paths (the summary shows them)."""
    groups = sorted_groups(groups)
    by_kind = {kind: sum(kind in group["kinds"] for group in groups) for kind in KINDS}
    first, paths = [], 0
    for group in sorted(groups, key=lambda g: min(KINDS.index(kind) for kind in g["kinds"])):  # Stable.
        if paths >= REPORTED_PATHS:
            break
        shown = {key: group[key] for key in ("basis", "kinds", "kept") if key in group}
        # A placeholder copied 10,000 times is named by its first few copies.
        shown["copies"] = group["copies"][: max(2, REPORTED_PATHS - paths)]
        if len(shown["copies"]) < len(group["copies"]):
            shown["copies_total"] = len(group["copies"])
        first.append(shown)
        paths += len(shown["copies"])
    return {
        "file": DUPLICATES_FILE,
        "groups": len(groups),
        "images": sum(len(group["copies"]) for group in groups),
        "groups_by_kind": by_kind,
        # Copies --dedupe did not write (its groups name the one it "kept").
        "removed": sum(len(group["copies"]) - 1 for group in groups if "kept" in group),
        "first": first,
    }
