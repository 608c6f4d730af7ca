"""Groups the records by their sha256 hashes (duplicates.py says why).

One grouping keyed by (basis, sha256): each record goes in under its file's
hash and under its stored image's, spread over the workers; only groups of
two or more images come out. A group is grouped whole up to
grouping.HOT_KEY_BOUND records and in pieces beyond, so no worker holds a
placeholder's 100,000 copies at once: each piece is a line of
duplicates.jsonl, with the group's kinds and `copies_total` tallied over
all of it. Each record's hashes cross the shuffles (about 180 bytes apiece,
two for each of its keys, as ImageHashesCoder writes them), never its
bytes. What the last step gets is the report's counts and first groups,
combined (DuplicateReport), never a list of every group.
"""

import typing

import apache_beam as beam
from apache_beam import coders

from transforms import duplicates
from transforms.grouping import GroupInPieces
from transforms.split import seeded_hash

LINES = "lines"  # Output of duplicates.jsonl's lines, a group or a piece of one each.
REPORTS = "reports"  # Output of one duplicates.GroupReport per group.
# Beam's compiled coder of plain tuples, strings and numbers (deterministic for them).
_PLAIN = coders.FastPrimitivesCoder().get_impl()


class ImageHashesCoder(coders.Coder):
    """ImageHashes across the groupings' shuffles, as the plain tuple of its
    five strings that Beam's compiled coder writes: about 1.5 us a row there
    and back, where the pickling Beam falls back to for a NamedTuple took 8
    to 12 us, and a record crosses four shuffles (two for each of its keys)."""

    def encode(self, row):
        return _PLAIN.encode(tuple(row))

    def decode(self, data):
        return duplicates.ImageHashes(*_PLAIN.decode(data))

    def is_deterministic(self):
        return True

    def to_type_hint(self):
        return duplicates.ImageHashes


coders.registry.register_coder(duplicates.ImageHashes, ImageHashesCoder)


def _by_path(copy):
    return copy["path"], copy["split"], copy["label"]


class CopiesSummary(beam.CombineFn):
    """A hot group's kinds (duplicates.KindsTally, with up to 2 of its
    source files) and its first REPORTED_PATHS copies by path, from its
    records' ImageHashes."""

    def create_accumulator(self):
        return duplicates.KindsTally(), []

    def add_input(self, accumulator, row):
        tally, first = accumulator
        tally.add(row.split, row.label, row.source_sha256)
        return tally, sorted([*first, duplicates.copy_of(row)], key=_by_path)[: duplicates.REPORTED_PATHS]

    def merge_accumulators(self, accumulators):
        tally, first = duplicates.KindsTally(), []
        for other_tally, other_first in accumulators:
            tally.merge(other_tally)
            first = sorted([*first, *other_first], key=_by_path)[: duplicates.REPORTED_PATHS]
        return tally, first

    def extract_output(self, accumulator):
        return accumulator


def _spread(row):
    return seeded_hash(0, row.relative_path, b"duplicate-copy")


# (basis, sha256) and a record's hashes, typed: ImageHashesCoder carries them.
_KEYED = typing.Tuple[typing.Tuple[str, str], duplicates.ImageHashes]


def _keys_of(row):
    """A record's two places: its file's hash and its stored image's."""
    yield (duplicates.FILE, row.source_sha256), row
    yield (duplicates.STORED, row.stored_sha256), row


def _whole_groups(key_and_rows):
    """A group of records, whole -> its line and its report, if it is a
    group (duplicates.group)."""
    (basis, sha256), rows = key_and_rows
    for group in duplicates.group((sha256, rows), basis):
        yield group
        yield beam.pvalue.TaggedOutput(REPORTS, duplicates.group_report(group))


def _pieces_of_groups(key_and_piece):
    """A piece of a hot group -> its line; the piece holding the group's
    first copy also gives the group's report, once."""
    (basis, sha256), piece = key_and_piece
    tally, first = piece.summary
    if basis == duplicates.STORED and len(tally.sources) == 1:
        return
    copies = sorted((duplicates.copy_of(row) for row in piece.items), key=_by_path)
    kinds = tally.kinds()
    yield {"basis": basis, "sha256": sha256, "kinds": kinds, "copies": copies, "copies_total": piece.count}
    if copies[0] == first[0]:
        report = duplicates.GroupReport(basis, sha256, tuple(kinds), piece.count, tuple(first))
        yield beam.pvalue.TaggedOutput(REPORTS, report)


class FindDuplicates(beam.PTransform):
    """ImageHashes -> {LINES: a dict per group of records with the same file
    bytes (basis "file") or the same stored image from different files
    (basis "stored_image"): sha256, kinds, copies (path, label, split), and
    for a group too big to hold at once one such line per piece, each with
    the group's `copies_total`; REPORTS: one duplicates.GroupReport per group}.

    Both bases in one grouping, keyed by (basis, sha256): on Beam's local
    runner each grouping's four shuffles cost bundles of their own."""

    def expand(self, hashes):
        grouped = (
            hashes
            | "ByHash" >> beam.FlatMap(_keys_of).with_output_types(_KEYED)
            | "Group" >> GroupInPieces(CopiesSummary(), _spread, "FindDuplicates", item_type=duplicates.ImageHashes)
        )
        whole = grouped["whole"] | "Whole" >> beam.FlatMap(_whole_groups).with_outputs(REPORTS, main=LINES)
        pieces = grouped["pieces"] | "Pieces" >> beam.FlatMap(_pieces_of_groups).with_outputs(REPORTS, main=LINES)
        return {
            LINES: (whole[LINES], pieces[LINES]) | "AllLines" >> beam.Flatten(),
            REPORTS: (whole[REPORTS], pieces[REPORTS]) | "AllReports" >> beam.Flatten(),
        }


class _Report(beam.CombineFn):
    def create_accumulator(self):
        return duplicates.ReportTally()

    def add_input(self, tally, group):
        return tally.add(group)

    def merge_accumulators(self, tallies):
        tallies = list(tallies)
        for other in tallies[1:]:
            tallies[0].merge(other)
        return tallies[0]

    def extract_output(self, tally):
        return tally.report()


class DuplicateReport(beam.PTransform):
    """GroupReports -> one element: dataset_info.json's "duplicates"."""

    def expand(self, reports):
        return reports | beam.CombineGlobally(_Report())
