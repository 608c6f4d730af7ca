"""Labels from a manifest instead of class folders (--manifest).

Many datasets arrive as a flat folder or prefix plus a list of which image
has which label: a CSV of `path,label` (most competition and labelling-tool
exports; an optional `split` column), SageMaker's augmented manifest (JSON
lines: `{"source-ref": "s3://...", "<attribute>": label}`, the attribute
named by --manifest_label_key), or im2rec's `.lst` (`index<TAB>label<TAB>path`).
The kind is told by the file's suffix (`MANIFEST_KINDS`).

Paths are taken as written when absolute (`/...`, `s3://...`), else resolved
against the base (--input, or the manifest's own folder); the record's
relative path (its hash places it in a split and a shard) is relative to the
base where the image lies under it, else the full path.

Labels: a name, or a whole number. When every label is a class id (a whole
number, 0 or more: an .lst always; JSON numbers; a CSV of digits) the
numbers are the label ids as written and the class list is 0..max, as im2rec
and SageMaker mean them, named by --labels_file or by a Ground Truth
manifest's own class names (`<key>-metadata`'s `class-name`); when none is,
ids follow the sorted names, as with folders; labels that mix the two stop
the job (label.manifest_class_list). A row with no path, no label, an
unknown label, a path another row already named, or a class name its id's
first row contradicts becomes an error row with its line number; so does an
image that later fails to be read or decoded (`AddManifestLines`). Every
data row is counted as matched, so matched = written + failed + skipped
holds over the manifest's rows.

The manifest is read in byte ranges of about 4 MiB (line_ranges.py), each
by the worker it lands on, streamed line by line, never whole into memory;
line numbers are the file's, from each range's line count. A compressed
manifest is not read (its suffix names no kind): ranges need byte offsets.
"""

import collections
import csv
import dataclasses
import json
import posixpath

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.grouping import GroupInPieces
from transforms.grouping import Smallest
from transforms.label import KeyedImage
from transforms.label import has_control_characters
from transforms.label import is_class_id
from transforms.line_ranges import BOM
from transforms.line_ranges import RANGE_BYTES
from transforms.line_ranges import ByteRange
from transforms.line_ranges import LineOffsets
from transforms.line_ranges import byte_ranges
from transforms.line_ranges import lines_in_range
from transforms.paths import resolve
from transforms.split import is_valid_split_name
from transforms.split import seeded_hash
from transforms.storage import Storage
from transforms.storage import configure_beam_filesystems

STAGE = "manifest"
CSV, JSON_LINES, LST = "csv", "jsonl", "lst"
MANIFEST_KINDS = {".csv": CSV, ".jsonl": JSON_LINES, ".json": JSON_LINES, ".manifest": JSON_LINES, ".lst": LST}
SOURCE_REF = "source-ref"  # The image's key in SageMaker's augmented manifests.
# Ground Truth's classification output: "<key>-metadata": {"class-name": ...},
# the name of the row's class id.
METADATA_SUFFIX = "-metadata"
CLASS_NAME = "class-name"
CSV_COLUMNS = ("path", "label")  # Required; "split" is optional.
LINES = "lines"  # Tag of the (path, line number) of every accepted row.
LINE_COUNTS = "line_counts"  # Tag of each byte range's _LineCount.
CLASS_NAMES = "class_names"  # Output of the (class id, name) pairs of a Ground Truth manifest.


def manifest_kind(path):
    """CSV, JSON_LINES or LST by the suffix of `path`; ValueError otherwise."""
    suffix = posixpath.splitext(path)[1].lower()
    if suffix not in MANIFEST_KINDS:
        raise ValueError(
            f"cannot tell the manifest's kind from its suffix {suffix or '(none)'!r}: use " + ", ".join(MANIFEST_KINDS)
        )
    return MANIFEST_KINDS[suffix]


def default_base(manifest_path):
    """The folder relative paths resolve against without --input."""
    return posixpath.dirname(manifest_path.rstrip("/")) or "."


class RowError(ValueError):
    """A manifest row that names no usable image: `reason`, message, and the
    path it gives, if it gives one."""

    def __init__(self, reason, message, path=None):
        super().__init__(message)
        self.reason = reason
        self.path = path


def check_start(text, kind):
    """Raises ValueError unless `text`, the start of a manifest, starts as
    its kind does: a CSV header naming the columns, a JSON object on the
    first line of JSON lines."""
    lines = [line for line in text.splitlines() if line.strip()]
    if kind == CSV:
        check_csv_header([name.strip() for name in next(csv.reader(lines[:1]), [])])
    elif kind == JSON_LINES and lines:
        first = lines[0].strip()
        if first.startswith("["):
            raise ValueError("is a JSON array: JSON lines have one object a line, as SageMaker's manifests do")
        try:
            if not isinstance(json.loads(first), dict):
                raise ValueError
        except ValueError:
            raise ValueError("line 1 is not a JSON object: JSON lines have one object a line") from None


def named_splits(text, kind, label_key=None):
    """(the valid split names the rows of an open manifest give, whether
    some row gives none)."""
    named, unnamed = set(), False
    for _, row in rows(text, kind, label_key):
        if isinstance(row, RowError):
            continue
        split = row.split
        if split is None:
            unnamed = True
        elif is_valid_split_name(split):
            named.add(split)
    return named, unnamed


def check_csv_header(fields):
    """Raises ValueError unless a CSV header names the required columns."""
    missing = [column for column in CSV_COLUMNS if column not in (fields or ())]
    if missing:
        raise ValueError(
            f"the CSV header must name the columns {', '.join(CSV_COLUMNS)} (and may name split); "
            f"it has {', '.join(fields or ()) or 'none'}"
        )


@dataclasses.dataclass(frozen=True)
class Row:
    """One data row as written: its path entry, label and split (or None),
    and a Ground Truth row's class name for its label id (or None)."""

    path: str
    label: str
    split: str = None
    class_name: str = None


def rows(text, kind, label_key=None):
    """Yields (line number, Row) or (line number, RowError) for each data
    row of an open text stream, read serially. Blank lines are not rows; the
    CSV header is not a row."""
    numbered = enumerate(text, start=1)
    header = csv_header(line for _, line in numbered) if kind == CSV else None
    yield from numbered_rows(numbered, kind, label_key, header)


def csv_header(lines):
    """The column names of a CSV manifest from its lines: the first line that
    is not blank (the lines up to it are taken from `lines`); ValueError
    unless it parses and names the required columns."""
    for line in lines:
        if not line.strip():
            continue
        try:
            header = [value.strip() for value in next(csv.reader([line], strict=True))]
        except csv.Error as e:
            raise ValueError(f"the CSV header does not parse: {e}") from None
        check_csv_header(header)
        return header
    check_csv_header([])


def numbered_rows(numbered, kind, label_key, header):
    """(number, Row or RowError) of each data row among (number, line) of
    lines after the CSV header (`header`, its column names; None for other
    kinds). Blank lines are not rows.

    Each physical line is a row of its own: a CSV field may be quoted (a path
    with a comma) but not run over lines (quoted newlines are not
    supported), so that an unclosed quote costs its own row (bad_row), not
    every row after it; and a manifest can be read in ranges of lines."""
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            if kind == CSV:
                row = _csv_row(line, header)
            else:
                row = _lst_row(line) if kind == LST else _json_row(line, label_key)
        except RowError as e:
            yield number, e
            continue
        if row is not None:
            yield number, row


def _csv_row(line, header):
    """A Row, or None for a line of empty fields."""
    try:
        values = [value.strip() for value in next(csv.reader([line], strict=True))]
    except csv.Error as e:
        raise RowError("bad_row", f"not a CSV row: {e} (a quote left open?)") from None
    row = dict(zip(header, values))
    path, label = row.get("path", ""), row.get("label", "")
    if not any(values):
        return None
    if not path:
        raise RowError("no_path", "the row's path is empty")
    return Row(path, label, row.get("split") or None)


def _lst_row(line):
    columns = line.rstrip("\r\n").split("\t")
    if len(columns) < 3:
        raise RowError("bad_row", "an .lst row is index<TAB>label<TAB>path")
    path = columns[-1].strip()
    if len(columns) > 3:
        raise RowError("multi_label", f"{len(columns) - 2} label columns: one label per image is supported", path)
    label = _whole_number(columns[1].strip())
    if not is_class_id(label):
        raise RowError("bad_label", f"label {columns[1].strip()!r}: an .lst label is a class id, 0 or more", path)
    return Row(path, label)


def _json_row(line, label_key):
    try:
        document = json.loads(line)
    except ValueError as e:
        raise RowError("bad_row", f"not a JSON object: {e}") from None
    if not isinstance(document, dict) or not isinstance(document.get(SOURCE_REF), str):
        raise RowError("no_path", f"the row has no {SOURCE_REF!r} string")
    path = document[SOURCE_REF].strip()
    label = document.get(label_key)
    if isinstance(label, list):  # Ground Truth's multi-label jobs: a list of ids and a class-map.
        raise RowError("multi_label", f"{len(label)} labels: one label per image is supported", path)
    if isinstance(label, bool) or not isinstance(label, (int, float, str)):
        raise RowError("no_label", f"the row has no {label_key!r} label (a name or a number)", path)
    split = document.get("split")
    if split is not None and not isinstance(split, str):
        raise RowError("bad_split_name", f"split {split!r} is not a name", path)
    if isinstance(label, (int, float)):
        label = _whole_number(str(label))
    metadata = document.get(label_key + METADATA_SUFFIX)
    class_name = metadata.get(CLASS_NAME) if isinstance(metadata, dict) else None
    class_name = class_name.strip() or None if isinstance(class_name, str) else None
    return Row(path, label.strip(), (split or "").strip() or None, class_name)


def _whole_number(text):
    """'3', '3.0' and im2rec's '3.000000' are label 3; anything else is kept as a name."""
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() and value >= 0 else text


@dataclasses.dataclass(frozen=True)
class _Header:
    """A CSV manifest's column names and the byte its first data line can
    start at (0 and no columns for the other kinds)."""

    columns: tuple = None
    end: int = 0


@dataclasses.dataclass(frozen=True)
class _Rejected:
    """A rejected row (a RowError, which does not pickle, as a row): why,
    and its full path if it names one."""

    reason: str
    message: str
    path: str = None


@dataclasses.dataclass(frozen=True)
class _Numbered:
    """A row's outcome with its line number in its range, before the ranges'
    line counts are known: a KeyedImage or a _Rejected."""

    range_index: int
    line: int
    outcome: object


@dataclasses.dataclass(frozen=True)
class _LineCount:
    range_index: int
    lines: int


def _decoded(offset, line):
    """A manifest line as text: the BOM at byte 0 is not a column (utf-8-sig,
    as Excel writes CSV)."""
    if offset == 0 and line.startswith(BOM):
        line = line[len(BOM) :]
    return line.decode("utf-8")


class _ManifestDoFn(beam.DoFn):
    """Per-worker storage for reading the manifest."""

    def __init__(self, manifest_path, s3_client_settings):
        self._manifest_path = manifest_path
        self._s3_client_settings = s3_client_settings

    def setup(self):
        configure_beam_filesystems(self._s3_client_settings)
        self._storage = Storage(self._s3_client_settings)

    def _open_read(self, start):
        return self._storage.open_read(self._manifest_path, start)


class _Ranges(_ManifestDoFn):
    """The manifest's path -> the ByteRanges it is read in."""

    def __init__(self, manifest_path, range_bytes, s3_client_settings):
        super().__init__(manifest_path, s3_client_settings)
        self._range_bytes = range_bytes

    def process(self, _):
        yield from byte_ranges(self._storage.size(self._manifest_path), self._range_bytes)


class _ReadHeader(_ManifestDoFn):
    """The manifest's path -> its _Header, read once from the start."""

    def __init__(self, manifest_path, kind, s3_client_settings):
        super().__init__(manifest_path, s3_client_settings)
        self._kind = kind

    def process(self, _):
        if self._kind != CSV:
            yield _Header()
            return
        end = 0

        def lines():
            nonlocal end
            whole = ByteRange(0, 0, self._storage.size(self._manifest_path))
            for offset, line in lines_in_range(self._open_read, whole):
                end = offset + len(line)
                yield _decoded(offset, line)

        yield _Header(tuple(csv_header(lines())), end)


class _ReadRange(_ManifestDoFn):
    """A ByteRange -> a _Numbered per data row that starts in it, and its
    _LineCount on LINE_COUNTS."""

    def __init__(self, manifest_path, *, base, kind, label_key, class_names_given, s3_client_settings):
        super().__init__(manifest_path, s3_client_settings)
        self._base = base
        self._kind = kind
        self._label_key = label_key
        self._class_names_given = class_names_given

    def setup(self):
        super().setup()
        self._matched = Metrics.counter(metrics.METRICS_NAMESPACE, "matched")

    def process(self, byte_range, header):
        count = 0

        def numbered():
            nonlocal count
            for offset, line in lines_in_range(self._open_read, byte_range):
                count += 1
                if offset >= header.end:  # Not a blank line before the header, nor the header.
                    yield count, _decoded(offset, line)

        for number, row in numbered_rows(numbered(), self._kind, self._label_key, header.columns):
            self._matched.inc()
            metrics.add_matched(1)
            yield _Numbered(byte_range.index, number, self._outcome(row))
        yield beam.pvalue.TaggedOutput(LINE_COUNTS, _LineCount(byte_range.index, count))

    def _outcome(self, row):
        """A KeyedImage (line 0, numbered later) or a _Rejected."""
        full = None
        try:
            if isinstance(row, RowError):
                full = row.path and resolve(row.path, self._base)[0]
                raise row
            full, _ = resolve(row.path, self._base)
            label = self._label(row.label)
            class_name = self._class_name(row.class_name, label)
        except RowError as e:
            return _Rejected(e.reason, str(e), full)
        return KeyedImage(label=label, path=full, split=row.split, line=0, class_name=class_name)

    def _label(self, label):
        if not label:
            raise RowError("no_label", "the row's label is empty")
        if is_class_id(label):
            label = str(int(label))  # "007" is id 7, as "7" is.
        if has_control_characters(label):
            raise RowError("bad_label", f"label {label!r} contains control characters")
        return label

    def _class_name(self, class_name, label):
        """The row's name for its class id, if it has one and --labels_file
        does not name the classes (it wins)."""
        if class_name is None or self._class_names_given or not is_class_id(label):
            return None
        if has_control_characters(class_name):
            raise RowError("bad_label", f"class name {class_name!r} contains control characters")
        return class_name


class _LineOffsetsFn(beam.CombineFn):
    """_LineCounts of every range -> the LineOffsets that number their lines."""

    def create_accumulator(self):
        return {}

    def add_input(self, counts, count):
        counts[count.range_index] = count.lines
        return counts

    def merge_accumulators(self, accumulators):
        merged = {}
        for counts in accumulators:
            merged.update(counts)
        return merged

    def extract_output(self, counts):
        return LineOffsets(counts)


class _NumberRows(beam.DoFn):
    """A _Numbered -> its KeyedImage with the file's line number, or its
    error row (naming the manifest's line when it names no path)."""

    def __init__(self, manifest_path):
        self._manifest_path = manifest_path

    def process(self, numbered, offsets):
        line = offsets.number(numbered.range_index, numbered.line)
        outcome = numbered.outcome
        if isinstance(outcome, _Rejected):
            path = outcome.path or f"{self._manifest_path}:{line}"
            yield _with_line(error_row(path, STAGE, outcome.reason, outcome.message), line)
        else:
            yield dataclasses.replace(outcome, line=line)


def _with_line(tagged, number):
    tagged.value["line"] = number
    return tagged


def _first_row_of_each_path(path_and_rows):
    """Keeps the first row naming a path; later ones become error rows."""
    path, named = path_and_rows
    named = sorted(named, key=_line)
    yield named[0]
    for row in named[1:]:
        yield _repeated(row, named[0])


def _first_row_in_piece(path_and_piece):
    """The same, for a piece of a path named on more rows than a group holds:
    its first row is the piece's summary."""
    path, piece = path_and_piece
    for row in piece.items:
        yield row if row.line == piece.summary.line else _repeated(row, piece.summary)


def _repeated(row, first):
    message = f"line {first.line} already names this file (label {first.label!r})"
    return _with_line(error_row(row.path, STAGE, "repeated_path", message), row.line)


def _line(row):
    return row.line


def _spread(row):
    """A 64-bit hash of a row, by its line, that spreads a path's rows over pieces."""
    return seeded_hash(0, str(row.line), b"manifest-row")


class _AgreesOnClassName(beam.DoFn):
    """Keeps a row whose class name, if it has one, is its id's (the name at
    the smallest line naming that id: `names`, id -> (line, name)), without
    the name; a row that names its id otherwise is an error row naming both."""

    def process(self, row, names):
        if row.class_name is None:
            yield row
            return
        line, name = names[row.label]
        if row.class_name != name:
            message = f"names class {row.label} {row.class_name!r}, but line {line} names it {name!r}"
            yield _with_line(error_row(row.path, STAGE, "class_name_conflict", message), row.line)
        else:
            yield dataclasses.replace(row, class_name=None)


class ReadManifest(beam.PTransform):
    """PBegin -> {"keyed": a KeyedImage per image, ERRORS: rejected rows,
    LINES: (path, line) of every image, "matched": the number of data rows,
    CLASS_NAMES: (id, name) of each class id a Ground Truth manifest names}."""

    def __init__(
        self, manifest_path, *, base, label_key, class_names_given, s3_client_settings, range_bytes=RANGE_BYTES
    ):
        super().__init__()
        self._manifest_path = manifest_path
        self._range_bytes = range_bytes
        self._base = base
        self._kind = manifest_kind(manifest_path)
        self._label_key = label_key
        self._class_names_given = class_names_given
        self._s3_client_settings = s3_client_settings

    def expand(self, pbegin):
        path, settings = self._manifest_path, self._s3_client_settings
        manifest = pbegin | "Manifest" >> beam.Create([path])
        header = manifest | "Header" >> beam.ParDo(_ReadHeader(path, self._kind, settings))
        ranged = (
            manifest
            | "Ranges" >> beam.ParDo(_Ranges(path, self._range_bytes, settings))
            | "SpreadRanges" >> beam.Reshuffle()  # Else one worker reads every range it was handed with the path.
            | "ReadRanges"
            >> beam.ParDo(
                _ReadRange(
                    path,
                    base=self._base,
                    kind=self._kind,
                    label_key=self._label_key,
                    class_names_given=self._class_names_given,
                    s3_client_settings=settings,
                ),
                beam.pvalue.AsSingleton(header),
            ).with_outputs(LINE_COUNTS, main="rows")
        )
        offsets = ranged[LINE_COUNTS] | "LineOffsets" >> beam.CombineGlobally(_LineOffsetsFn())
        read = ranged.rows | "NumberRows" >> beam.ParDo(
            _NumberRows(path), beam.pvalue.AsSingleton(offsets)
        ).with_outputs(ERRORS, main="rows")
        by_path = (
            read.rows
            | "ByPath" >> beam.Map(lambda row: (row.path, row))
            | "GroupPath" >> GroupInPieces(Smallest(_line), _spread, "ReadManifest", item_type=KeyedImage)
        )
        whole = by_path["whole"] | "FirstRowOfEachPath" >> beam.FlatMap(_first_row_of_each_path).with_outputs(
            ERRORS, main="keyed"
        )
        pieces = by_path["pieces"] | "FirstRowInPiece" >> beam.FlatMap(_first_row_in_piece).with_outputs(
            ERRORS, main="keyed"
        )
        kept = (whole.keyed, pieces.keyed) | "FirstRows" >> beam.Flatten()
        # Each id's name, from the first line that names it: one small entry per class.
        names = (
            kept
            | "Named" >> beam.Filter(lambda row: row.class_name is not None)
            | "IdAndName" >> beam.Map(lambda row: (row.label, (row.line, row.class_name)))
            | "FirstName" >> beam.CombinePerKey(min)
        )
        agreed = kept | "AgreesOnClassName" >> beam.ParDo(_AgreesOnClassName(), beam.pvalue.AsDict(names)).with_outputs(
            ERRORS, main="keyed"
        )
        count = (  # As match.py counts: ones into one combine.
            (
                read.rows | "OnePerRow" >> beam.Map(lambda _: 1),
                read[ERRORS] | "OnePerRejected" >> beam.Map(lambda _: 1),
            )
            | "BothCounts" >> beam.Flatten()
            | "Matched" >> beam.CombineGlobally(sum)
        )
        errors = (read[ERRORS], whole[ERRORS], pieces[ERRORS], agreed[ERRORS]) | "RowErrors" >> beam.Flatten()
        return {
            "keyed": agreed.keyed,
            ERRORS: errors,
            # One (path, line) a path: the line of the row kept for it.
            LINES: kept | "Lines" >> beam.Map(lambda row: (row.path, row.line)),
            "matched": count,
            CLASS_NAMES: names | "Names" >> beam.Map(lambda named: (named[0], named[1][1])),
        }


def _add_line(joined):
    _, grouped = joined
    line = min(grouped["lines"], default=None)
    return [row if line is None or "line" in row else {**row, "line": line} for row in grouped["rows"]]


class AddManifestLines(beam.PTransform):
    """Error rows -> the same rows, each naming the manifest line of its
    path (rows of the manifest's own stage have theirs already)."""

    def __init__(self, lines):
        super().__init__()
        self._lines = lines

    def expand(self, errors):
        return (
            {
                "rows": errors | "ByPath" >> beam.Map(lambda row: (row["path"], row)),
                "lines": self._lines,
            }
            | "JoinLines" >> beam.CoGroupByKey()
            | "AddLine" >> beam.FlatMap(_add_line)
        )


class ManifestLabelsError(ValueError):
    """A manifest's labels that cannot be given ids without guessing."""


@dataclasses.dataclass(frozen=True)
class ManifestClasses:
    """The classes of a run from a manifest: their names in id order, and
    how a row's label finds its class: `by_id`, the label is the class id
    (the line of --labels_file, or the id as written); else by name."""

    names: tuple
    by_id: bool


def manifest_classes(first_lines, names_of_ids=None, fixed=None):
    """The ManifestClasses of a manifest's distinct labels, each given as
    (label, the first line naming it), and of --labels_file's `fixed` list.

    Labels that are all class ids (an .lst's always) are ids as written:
    line N of --labels_file names id N; without it the list is 0 to the
    largest id, each named by `names_of_ids` (id -> a Ground Truth manifest's
    class name) or by its number. Labels that are not are names: found by
    name in --labels_file, or sorted as folder names are. Without a labels
    file, labels that mix the two raise ManifestLabelsError naming the first
    line of the rarer kind: {0, 1, -1} would otherwise become the classes
    -1, 0, 1 and shift every id by one, without a word, and only the user can
    tell a {-1, +1} scheme from a typo. With one, every label of such a
    manifest is a name the file must hold, digits too: a label is never an id
    on one row and a name on the next."""
    ids = sorted((line, label) for label, line in first_lines if is_class_id(label))
    others = sorted((line, label) for label, line in first_lines if not is_class_id(label))
    if fixed is not None:
        return ManifestClasses(tuple(fixed), by_id=bool(ids) and not others)
    if ids and others:
        odd, usual = (others, ids) if len(others) <= len(ids) else (ids, others)
        raise ManifestLabelsError(
            f"--manifest line {odd[0][0]}: label {odd[0][1]!r} is {'not ' if odd is others else ''}a class id "
            f"(a whole number, 0 or more), while line {usual[0][0]} has {usual[0][1]!r}: the manifest's "
            "labels mix ids with other labels, and no id can be given without guessing; fix the rows, "
            "or pass --labels_file naming every label, one a line (its line N is then class id N)"
        )
    if not ids:
        return ManifestClasses(tuple(sorted(label for _, label in others)), by_id=False)
    names_of_ids = names_of_ids or {}
    names = [names_of_ids.get(str(i), str(i)) for i in range(max(int(label) for _, label in ids) + 1)]
    repeated = next((name for name, count in collections.Counter(names).items() if count > 1), None)
    if repeated is not None:
        first = names.index(repeated)
        raise ManifestLabelsError(
            f"ids {first} and {names.index(repeated, first + 1)} are both named {repeated!r} by the "
            "manifest's class names: pass --labels_file naming each id (line N names id N)"
        )
    return ManifestClasses(tuple(names), by_id=True)


class ClassesOfManifest(beam.PTransform):
    """A manifest's KeyedImage rows -> one ManifestClasses. Only the distinct
    labels meet in one place, each with the first line naming it (a combine):
    the rows themselves stay where they are. `names_of_ids`: ReadManifest's
    CLASS_NAMES, (id, name) pairs."""

    def __init__(self, fixed=None, names_of_ids=None):
        super().__init__()
        self._fixed = list(fixed) if fixed is not None else None
        self._names_of_ids = names_of_ids

    def expand(self, keyed):
        names = self._names_of_ids
        if names is None:
            names = keyed.pipeline | "NoNames" >> beam.Create([])
        return (
            keyed
            | "LabelLines" >> beam.Map(lambda row: (row.label, row.line))
            | "FirstLine" >> beam.CombinePerKey(min)
            | "AllLabels" >> beam.combiners.ToList()
            | "Decide" >> beam.Map(manifest_classes, beam.pvalue.AsDict(names), self._fixed)
        )


class _ByClass(beam.DoFn):
    """A row labelled as written -> the same row labelled by its class's
    name; a label the classes lack (only --labels_file's can) is an
    unknown_label error row."""

    def __init__(self):
        self._classes = None

    def process(self, row, classes):
        if classes is not self._classes:  # The side input is fixed per run.
            self._classes, self._names = classes, frozenset(classes.names)
        if classes.by_id:
            if int(row.label) >= len(classes.names):
                message = f"label id {row.label} is past --labels_file's {len(classes.names)} classes"
                yield _with_line(error_row(row.path, STAGE, "unknown_label", message), row.line)
            else:
                yield dataclasses.replace(row, label=classes.names[int(row.label)])
        elif row.label not in self._names:
            message = f"label {row.label!r} is not in --labels_file"
            yield _with_line(error_row(row.path, STAGE, "unknown_label", message), row.line)
        else:
            yield row


class LabelByClass(beam.PTransform):
    """A manifest's KeyedImage rows -> {"keyed": the same rows labelled by
    their class's name (as folder rows are, so that every later stage counts
    and writes classes by name), ERRORS: rows of a label the classes lack}.
    `classes`: ClassesOfManifest's singleton."""

    def __init__(self, classes):
        super().__init__()
        self._classes = classes

    def expand(self, keyed):
        return keyed | beam.ParDo(_ByClass(), beam.pvalue.AsSingleton(self._classes)).with_outputs(ERRORS, main="keyed")
