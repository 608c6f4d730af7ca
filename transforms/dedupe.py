"""--dedupe: write one copy of each distinct source file, placed by its content.

Without it, duplicates are reported (duplicates.py) but all written: the
hashes are computed as the images are converted, after splits are chosen.
To keep copies out of two splits, the content must be known before: this
stage reads and hashes every source file once more, before AssignSplits (on
a local disk the second read comes from the page cache; on S3 it is a second
GET of each object: docs/formats.md, "Duplicates and leakage", gives the cost).

Copies are grouped by sha256 (a shuffle of hashes and paths, never bytes).
The copy with the smallest relative path is kept, whatever the order of the
listing; every other copy becomes an error row of reason `duplicate` naming
the kept one, so that matched = written + failed + skipped still holds. The
kept image is then placed by its content hash rather than its path
(split.py), so that which copy is kept never moves an image between splits.
"""

import collections
import concurrent.futures
import dataclasses
import hashlib

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms import duplicates
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.grouping import GroupInPieces
from transforms.label import KeyedImage
from transforms.paths import relative_or_full
from transforms.split import seeded_hash
from transforms.storage import Storage
from transforms.storage import configure_beam_filesystems

STAGE = "dedupe"
GROUPS = "groups"  # Tag of the duplicate groups found: duplicates.jsonl's lines.
REPORTS = "reports"  # Tag of a duplicates.GroupReport per group.
_CHUNK = 1 << 20  # Hashed in pieces: a 100 MB TIFF needs no 100 MB buffer.
# Files hashed at once per worker: S3 GETs mostly wait on the network.
_THREADS = 16


def sha256_of(storage, path):
    digest = hashlib.sha256()
    with storage.open_read(path) as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _HashSources(beam.DoFn):
    """keyed row -> (sha256, keyed row), several files at a time, in order;
    a file that cannot be read is an error row."""

    def __init__(self, s3_client_settings):
        self._s3_client_settings = s3_client_settings

    def setup(self):
        configure_beam_filesystems(self._s3_client_settings)
        self._storage = Storage(self._s3_client_settings, max_connections=_THREADS)
        self._pool = concurrent.futures.ThreadPoolExecutor(_THREADS, thread_name_prefix="hash")

    def teardown(self):
        self._pool.shutdown(wait=True)

    def start_bundle(self):
        self._pending = collections.deque()

    def process(self, keyed):
        self._pending.append((keyed, self._pool.submit(sha256_of, self._storage, keyed.path)))
        while len(self._pending) > 2 * _THREADS or (self._pending and self._pending[0][1].done()):
            yield from self._result(*self._pending.popleft())

    def finish_bundle(self):
        while self._pending:
            for output in self._result(*self._pending.popleft()):
                if isinstance(output, TaggedOutput):
                    yield TaggedOutput(output.tag, WindowedValue(output.value, MIN_TIMESTAMP, [GlobalWindow()]))
                else:
                    yield WindowedValue(output, MIN_TIMESTAMP, [GlobalWindow()])

    @staticmethod
    def _result(keyed, future):
        try:
            yield future.result(), keyed
        except Exception as e:  # Retries happen in the client; this is final.
            yield error_row(keyed.path, STAGE, "read_error", f"{type(e).__name__}: {e}")


def _kept_order(root):
    """Which of a group's copies is kept: the smallest relative path, then label."""
    return lambda keyed: (relative_or_full(keyed.path, root), keyed.label)


def _listed(keyed, root):
    return {"path": relative_or_full(keyed.path, root), "label": keyed.label, "split": None}


def _duplicate(other, kept, root):
    message = (
        f"the same bytes as {relative_or_full(kept.path, root)} (label {kept.label!r}), which is written in its place"
    )
    return error_row(other.path, STAGE, "duplicate", message)


def _keep_one(sha_and_copies, root):
    """(sha256, [KeyedImage]) -> [the kept row with its content sha256, an
    error row per other copy, and the group on GROUPS and its report on
    REPORTS if there were copies]."""
    sha256, copies = sha_and_copies
    copies = sorted(copies, key=_kept_order(root))
    outputs = [dataclasses.replace(copies[0], content=sha256)]
    if len(copies) == 1:
        return outputs
    outputs += [_duplicate(other, copies[0], root) for other in copies[1:]]
    listed = [_listed(keyed, root) for keyed in copies]
    kept = relative_or_full(copies[0].path, root)
    group = {"basis": duplicates.FILE, "sha256": sha256, "kinds": duplicates.kinds_of(listed), "kept": kept}
    group["copies"] = listed
    outputs.append(TaggedOutput(GROUPS, group))
    outputs.append(TaggedOutput(REPORTS, duplicates.group_report(group)))
    return outputs


def _keep_in_piece(sha_and_piece, root):
    """The same for a piece of a group too big to hold at once: the kept copy
    is the piece's summary's; the piece is a line of its own, with the
    group's kinds and `copies_total`; the piece that holds the kept copy
    gives the group's report."""
    sha256, piece = sha_and_piece
    kept, tally, first = piece.summary
    for keyed in piece.items:
        yield dataclasses.replace(keyed, content=sha256) if keyed == kept else _duplicate(keyed, kept, root)
    line = {"basis": duplicates.FILE, "sha256": sha256, "kinds": tally.kinds(), "kept": first[0]["path"]}
    line["copies"] = sorted((_listed(keyed, root) for keyed in piece.items), key=_by_path)
    line["copies_total"] = piece.count
    yield TaggedOutput(GROUPS, line)
    if kept in piece.items:
        report = duplicates.GroupReport(duplicates.FILE, sha256, tuple(line["kinds"]), piece.count, tuple(first))
        yield TaggedOutput(REPORTS, report._replace(kept=first[0]["path"]))


def _by_path(copy):
    return copy["path"], copy["label"]


class _CopiesSummary(beam.CombineFn):
    """A hot group's kept copy (_kept_order), the kinds of its copies
    (duplicates.KindsTally) and its first REPORTED_PATHS copies by path."""

    def __init__(self, root):
        self._root = root

    def create_accumulator(self):
        return None, duplicates.KindsTally(), []

    def add_input(self, accumulator, keyed):
        kept, tally, first = accumulator
        if kept is None or _kept_order(self._root)(keyed) < _kept_order(self._root)(kept):
            kept = keyed
        tally.add(None, keyed.label)
        first = sorted([*first, _listed(keyed, self._root)], key=_by_path)[: duplicates.REPORTED_PATHS]
        return kept, tally, first

    def merge_accumulators(self, accumulators):
        kept, tally, first = self.create_accumulator()
        for other_kept, other_tally, other_first in accumulators:
            if other_kept is not None and (
                kept is None or _kept_order(self._root)(other_kept) < _kept_order(self._root)(kept)
            ):
                kept = other_kept
            tally.merge(other_tally)
            first = sorted([*first, *other_first], key=_by_path)[: duplicates.REPORTED_PATHS]
        return kept, tally, first

    def extract_output(self, accumulator):
        return accumulator


def _spread(keyed):
    return seeded_hash(0, keyed.path, b"dedupe-copy")


class DedupeByContent(beam.PTransform):
    """KeyedImage rows -> {"keyed": one row per distinct file, with its
    `content` sha256, ERRORS: the other copies and unreadable files,
    GROUPS: the groups (a line of duplicates.jsonl each, or one a piece of a
    group too big to hold at once), REPORTS: a duplicates.GroupReport per
    group}."""

    def __init__(self, input_root, s3_client_settings):
        super().__init__()
        self._root = input_root.rstrip("/") + "/"
        self._s3_client_settings = s3_client_settings

    def expand(self, keyed):
        hashed = keyed | "HashSources" >> beam.ParDo(_HashSources(self._s3_client_settings)).with_outputs(
            ERRORS, main="hashed"
        )
        grouped = hashed.hashed | "GroupCopies" >> GroupInPieces(
            _CopiesSummary(self._root), _spread, "DedupeByContent", item_type=KeyedImage
        )
        whole = grouped["whole"] | "KeepOne" >> beam.FlatMap(_keep_one, self._root).with_outputs(
            ERRORS, GROUPS, REPORTS, main="keyed"
        )
        pieces = grouped["pieces"] | "KeepInPiece" >> beam.FlatMap(_keep_in_piece, self._root).with_outputs(
            ERRORS, GROUPS, REPORTS, main="keyed"
        )
        return {
            "keyed": (whole.keyed, pieces.keyed) | "Kept" >> beam.Flatten(),
            ERRORS: (hashed[ERRORS], whole[ERRORS], pieces[ERRORS]) | "DedupeErrors" >> beam.Flatten(),
            GROUPS: (whole[GROUPS], pieces[GROUPS]) | "Groups" >> beam.Flatten(),
            REPORTS: (whole[REPORTS], pieces[REPORTS]) | "Reports" >> beam.Flatten(),
        }
