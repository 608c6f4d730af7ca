"""Which files under `--input` a run reads, and what the summary, `--plan`
and dataset_info.json say of those it skips, by kind.

A file without an image extension (IMAGE_EXTENSIONS), or hidden, is not
read (match.py): it is counted as skipped, not an error. A count alone leaves a
user with `.jfif` photos, or `.avif` ones, no way to see that they were
left out; the kinds say it: `.jfif 12, .txt 1, hidden 3`.

The kinds are counted by a combine, so they must stay bounded and the same
whatever order workers merge in (dataset_info.json is byte for byte the
same on every runner): the first MAX_KINDS kinds in one fixed order (the
named kinds, hidden and the like, then extensions sorted) are kept with
their exact counts, the rest only counted. A kind among the first MAX_KINDS
overall is never dropped from a partial count (that would need MAX_KINDS
kinds before it beside it), so its count is exact whatever the order.
"""

import posixpath

import apache_beam as beam

from transforms import listing

# What a file under --input must be named to be read (a manifest's rows name
# their files, whatever they are called).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
HIDDEN = "hidden"  # A path with a part starting with "." (listing.is_hidden).
NO_EXTENSION = "no extension"
FOLDER_MARKER = "folder marker"  # An S3 key ending in "/", which consoles make for folders.
# Kinds named with their counts; a tree with more kinds than this is odd
# (numbered backups, say): the rest are counted as "other kinds".
MAX_KINDS = 32


def has_image_extension(path):
    return posixpath.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def is_read(relative):
    """Whether the file at `relative` (to --input) is read as an image: an
    image extension, and no part of the path hidden."""
    return has_image_extension(relative) and not listing.is_hidden(relative)


def kind(relative):
    """The kind of a skipped path (relative to --input): hidden, a folder
    marker (the key of --input itself too), or its extension in lower case
    (".txt"), or NO_EXTENSION (a name ending in "." too). A backslash is a
    character of the name, not a separator, as on S3 and Linux."""
    if listing.is_hidden(relative):
        return HIDDEN
    if not relative or relative.endswith("/"):
        return FOLDER_MARKER
    extension = posixpath.splitext(relative)[1].lower()
    return extension if len(extension) > 1 else NO_EXTENSION


def _order(skipped_kind):
    """The fixed order in which kinds are kept: named kinds first (an
    extension's "." sorts before every letter, and 32 odd extensions must
    not push thousands of hidden files into "other kinds"), then by name."""
    return skipped_kind.startswith("."), skipped_kind


class SkippedKinds:
    """Skipped files counted by kind, bounded (see the docstring): a combine's
    accumulator, in dataset_info.py's totals and in the plan."""

    def __init__(self):
        self.count = 0
        self.by_kind = {}

    def add(self, skipped_kind):
        self.count += 1
        self._add_kind(skipped_kind, 1)
        return self

    def merge(self, other):
        self.count += other.count
        for skipped_kind, count in other.by_kind.items():
            self._add_kind(skipped_kind, count)
        return self

    def _add_kind(self, skipped_kind, count):
        self.by_kind[skipped_kind] = self.by_kind.get(skipped_kind, 0) + count
        if len(self.by_kind) > MAX_KINDS:
            del self.by_kind[max(self.by_kind, key=_order)]

    def to_json(self):
        """dataset_info.json's "skipped", or None when nothing was skipped (a
        clean dataset's file stays as it was)."""
        if not self.count:
            return None
        by_kind = dict(sorted(self.by_kind.items()))
        others = self.count - sum(by_kind.values())
        return {"count": self.count, "by_kind": by_kind, **({"other_kinds": others} if others else {})}


class CountSkipped(beam.CombineFn):
    """Kinds (`kind`) -> dataset_info.json's "skipped" (SkippedKinds.to_json)."""

    def create_accumulator(self):
        return SkippedKinds()

    def add_input(self, kinds, skipped_kind):
        return kinds.add(skipped_kind)

    def merge_accumulators(self, all_kinds):
        total = SkippedKinds()
        for kinds in all_kinds:
            total.merge(kinds)
        return total

    def extract_output(self, kinds):
        return kinds.to_json()


def count(skipped):
    """The files counted in dataset_info.json's "skipped" (or the plan's)."""
    return skipped["count"] if skipped else 0


def summary_line(skipped):
    """The summary's and the plan's line for dataset_info.json's "skipped"
    (SkippedKinds.to_json), or None."""
    if not skipped:
        return None
    by_kind = skipped["by_kind"]
    kinds = ", ".join(f"{name} {n}" for name, n in sorted(by_kind.items(), key=lambda item: (-item[1], item[0])))
    if skipped.get("other_kinds"):
        kinds += f", {skipped['other_kinds']} of other kinds"
    return (
        f"  skipped: {kinds} (not read: hidden, or not named {' '.join(IMAGE_EXTENSIONS)}; "
        "a --manifest may name any file)"
    )
