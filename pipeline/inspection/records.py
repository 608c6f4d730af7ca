"""Reads one shard back record by record, for `im2tfrecord inspect`, as a trainer will.

Per shard: its bytes hash to dataset_info.json's sha256; per record: the
framing is sound (TFRecord's crc32c, RecordIO's magic words), the record
holds what its format and schema say (transforms/formats/), the label is a
class id that agrees with the class text where the record has one, and the
image decodes with Pillow to the recorded size and channels. The shard is
streamed, so memory does not grow with its size, and one bad record is
reported with its index and the pass goes on.

Also here, for the threads of the record pass: the problem log each shard fills.
"""

import collections
import dataclasses
import io
import logging

from PIL import Image

from pipeline.inspection import contact_sheet
from transforms import schema as schemas
from transforms.formats import RecordFormat
from transforms.hashing import HashingReader
from transforms.hashing import drain

# Problems kept with their place, per shard; past that they are only counted,
# so a shard of a million bad records does not fill memory or the report.
KEPT_PER_FILE = 20
# Reads of this size, not one small read per record header: fewer S3 body reads.
_CHUNK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    reason: str  # a short code: checksum_mismatch, corrupt_record, label_mismatch, ...
    message: str
    record: int = None  # index in its shard, from 0, when one record is at fault

    def as_dict(self):
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


class Problems:
    """Problems in the order found: all counted by reason, the first KEPT_PER_FILE of each file kept."""

    def __init__(self):
        self.kept = []
        self.counts = collections.Counter()
        self._per_file = collections.Counter()

    def add(self, file, reason, message, record=None):
        self.counts[reason] += 1
        self._per_file[file] += 1
        if self._per_file[file] <= KEPT_PER_FILE:
            self.kept.append(Problem(file, reason, message, record))

    def merge(self, other):
        self.kept += other.kept
        self.counts.update(other.counts)


@dataclasses.dataclass(frozen=True)
class RecordSpec:
    """What every record of a dataset must hold, from its dataset_info.json."""

    format: RecordFormat
    schema: str  # None for a format without feature keys
    labels: tuple

    @property
    def roles(self):
        """What each record holds: the schema's roles, or a RecordIO record's label and image."""
        return set(schemas.KEYS[self.schema]) if self.format.has_schema else {"image", "label"}


@dataclasses.dataclass
class ShardResult:
    file: str
    problems: Problems = dataclasses.field(default_factory=Problems)
    per_class: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    records: int = 0
    all_records: bool = False  # read to the end: no corrupt record, no early stop


def check_shard(storage, path, shard, spec, bar, samples=None, rank=(), until=None):
    """ShardResult of reading `shard` (a dataset.Shard) at `path`.

    Samples get keys (*rank, record index). `until`, if given, is asked after
    each record whether to stop; a shard left early is neither hashed nor counted.
    """
    result = ShardResult(shard.file)
    try:
        with storage.open_read(path) as raw:
            hashing = HashingReader(raw, on_bytes=lambda n: bar.add(num_bytes=n))
            reader = io.BufferedReader(hashing, _CHUNK_BYTES)
            if _read_records(reader, result, spec, bar, samples, rank, until):
                return result
            drain(reader, _CHUNK_BYTES)
    except Exception as e:  # Unreadable: a finding about this shard, not the end of the pass.
        logging.getLogger(__name__).debug("reading %s failed", path, exc_info=True)
        result.all_records = False
        result.problems.add(shard.file, "read_error", f"cannot be read: {_one_line(e)}")
        return result
    if hashing.hexdigest() != shard.sha256:
        result.problems.add(
            shard.file,
            "checksum_mismatch",
            f"sha256 {hashing.hexdigest()[:16]}... is not dataset_info.json's {str(shard.sha256)[:16]}...",
        )
    if result.all_records and result.records != shard.num_examples:
        result.problems.add(
            shard.file, "count_mismatch", f"{result.records} records, dataset_info.json says {shard.num_examples}"
        )
    return result


def _read_records(reader, result, spec, bar, samples, rank, until):
    """Checks records until the end; True if `until` stopped it early."""
    records = spec.format.iter_records(reader)
    while True:
        try:
            data = next(records)
        except StopIteration:
            result.all_records = True
            return False
        except ValueError as e:  # A broken frame: what follows cannot be found.
            result.problems.add(
                result.file,
                "corrupt_record",
                f"record {result.records}: {e}; the records after it cannot be read",
                result.records,
            )
            return False
        _check_and_sample(data, result, spec, samples, rank)
        result.records += 1
        bar.add(records=1)
        if until is not None and until():
            return True


def _check_and_sample(data, result, spec, samples, rank):
    index = result.records
    label, image, filename, issues = check_record(data, spec)
    where = f"record {index}" + (f" ({filename})" if filename else "")
    for reason, message in issues:
        result.problems.add(result.file, reason, f"{where}: {message}", index)
    if label is None:
        return
    result.per_class[label] += 1
    key = (*rank, index)
    # A record with a wrong class text is still shown: the sheet shows what a trainer gets.
    if samples is not None and image is not None and samples.wants(label, key):
        samples.offer(label, key, contact_sheet.Sample(contact_sheet.thumbnail(image), filename))


def check_record(data, spec):
    """(label id or None, decoded image or None, file name or None, [(reason, message)])."""
    values, issues = spec.format.fields(data, spec.schema)
    name = values.get("filename")
    filename = name.decode("utf-8", "replace") if isinstance(name, bytes) else None
    if issues:
        return None, None, filename, issues
    label = values["label"]
    if not 0 <= label < len(spec.labels):
        issues.append(("label_out_of_range", f"label {label} is not a class id (0 to {len(spec.labels) - 1})"))
        label = None
    elif "text" in values and values["text"] != spec.labels[label].encode("utf-8"):
        issues.append(
            (
                "label_mismatch",
                f"label {label} is {spec.labels[label]!r}, but "
                f"{_key(spec, 'text')} is {values['text'].decode('utf-8', 'replace')!r}",
            )
        )
    image, image_issues = _decode(values)
    return label, image, filename, issues + image_issues


def _key(spec, role):
    return schemas.KEYS[spec.schema][role]


def _decode(values):
    try:
        image = Image.open(io.BytesIO(values["image"]))
        image.load()
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ... on bad data.
        return None, [("bad_image", f"the image does not decode ({type(e).__name__}: {_one_line(e)})")]
    issues = []
    if "height" in values:
        recorded = tuple(values[k] for k in ("width", "height", "channels"))
        decoded = (image.width, image.height, len(image.getbands()))
        if recorded != decoded:
            issues.append(
                ("image_mismatch", "the image is {}x{}x{}, the record says {}x{}x{}".format(*decoded, *recorded))
            )
        recorded_format = values["format"].decode("ascii", "replace").upper()
        if recorded_format != {"MPO": "JPEG"}.get(image.format, image.format):
            issues.append(("image_mismatch", f"the image is {image.format}, the record says {recorded_format}"))
    return image, issues


def _one_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
