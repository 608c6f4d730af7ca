"""Reads one shard back record by record, for `im2tfrecord inspect`, as a trainer will.

Per shard: its bytes hash to dataset_info.json's sha256; per record: the
crc32c is right, the bytes parse as a tf.train.Example with the schema's
features, the label is a class id that agrees with the class text, and the
image decodes with Pillow to the recorded size and channels. The shard is
streamed, so memory does not grow with its size, and one bad record is
reported with its index and the pass goes on.

Also here, for the threads of the record pass: the problem log each shard
fills, and the progress bar they all feed.
"""

import collections
import dataclasses
import hashlib
import io
import logging
import sys
import threading
import time

from PIL import Image

from pipeline import contact_sheet
from transforms import tfrecord
from transforms.encode import DEFAULT_SCHEMA
from transforms.encode import SIMPLE_SCHEMA
from transforms.example_proto import parse_example

# Feature keys by role, per schema (transforms/encode.py writes them).
SCHEMA_KEYS = {
    DEFAULT_SCHEMA: {"image": "image/encoded", "label": "image/class/label",
                     "text": "image/class/text", "filename": "image/filename",
                     "height": "image/height", "width": "image/width",
                     "channels": "image/channels", "format": "image/format"},
    SIMPLE_SCHEMA: {"image": "image", "label": "label"},
}
_PYTHON_TYPES = {"bytes": bytes, "int64": int}

# Problems kept with their place, per shard; past that they are only counted,
# so a shard of a million bad records does not fill memory or the report.
KEPT_PER_FILE = 20
# Reads of this size, not one small read per record header: fewer S3 body reads.
_CHUNK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    reason: str     # a short code: checksum_mismatch, corrupt_record, label_mismatch, ...
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
    features: dict  # key -> "bytes" or "int64"
    keys: dict      # role -> key, SCHEMA_KEYS of the dataset's schema
    labels: tuple


@dataclasses.dataclass
class ShardResult:
    file: str
    problems: Problems = dataclasses.field(default_factory=Problems)
    per_class: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    records: int = 0
    all_records: bool = False  # read to the end: no corrupt record, no early stop


def check_shard(storage, path, shard, spec, bar, samples=None, rank=(), until=None):
    """ShardResult of reading `shard` (an inspect_info.Shard) at `path`.

    Samples get keys (*rank, record index). `until`, if given, is asked after
    each record whether to stop; a shard left early is neither hashed nor counted.
    """
    result = ShardResult(shard.file)
    try:
        with storage.open_read(path) as raw:
            reader = _HashingReader(raw, bar)
            if _read_records(reader, result, spec, bar, samples, rank, until):
                return result
            reader.drain()
    except Exception as e:  # Unreadable: a finding about this shard, not the end of the pass.
        logging.getLogger(__name__).debug("reading %s failed", path, exc_info=True)
        result.all_records = False
        result.problems.add(shard.file, "read_error", f"cannot be read: {_one_line(e)}")
        return result
    if reader.hexdigest() != shard.sha256:
        result.problems.add(shard.file, "checksum_mismatch", f"sha256 {reader.hexdigest()[:16]}... "
                            f"is not dataset_info.json's {str(shard.sha256)[:16]}...")
    if result.all_records and result.records != shard.num_examples:
        result.problems.add(shard.file, "count_mismatch", f"{result.records} records, "
                            f"dataset_info.json says {shard.num_examples}")
    return result


def hash_file(storage, path, bar):
    """sha256 hex digest of a file, streamed."""
    with storage.open_read(path) as raw:
        reader = _HashingReader(raw, bar)
        reader.drain()
    return reader.hexdigest()


def _read_records(reader, result, spec, bar, samples, rank, until):
    """Checks records until the end; True if `until` stopped it early."""
    records = tfrecord.iter_records(reader)
    while True:
        try:
            data = next(records)
        except StopIteration:
            result.all_records = True
            return False
        except ValueError as e:  # A broken frame: what follows cannot be found.
            result.problems.add(result.file, "corrupt_record", f"record {result.records}: {e}; "
                                "the records after it cannot be read", result.records)
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
    try:
        features = parse_example(data)
    except (ValueError, UnicodeDecodeError) as e:
        return None, None, None, [("bad_example", f"not a tf.train.Example ({e})")]
    keys = spec.keys
    values = {key: v[0] for key, v in features.items() if len(v) == 1}
    name = values.get(keys.get("filename"))
    filename = name.decode("utf-8", "replace") if isinstance(name, bytes) else None
    issues = [("bad_feature", f"{key} should hold one {kind} value, holds "
                              f"{features.get(key, 'nothing')!r:.60}")
              for key, kind in spec.features.items()
              if not isinstance(values.get(key), _PYTHON_TYPES.get(kind, object))]
    if issues:
        return None, None, filename, issues
    label = values[keys["label"]]
    if not 0 <= label < len(spec.labels):
        issues.append(("label_out_of_range",
                       f"label {label} is not a class id (0 to {len(spec.labels) - 1})"))
        label = None
    elif "text" in keys and values[keys["text"]] != spec.labels[label].encode("utf-8"):
        issues.append(("label_mismatch", f"label {label} is {spec.labels[label]!r}, but "
                       f"{keys['text']} is {values[keys['text']].decode('utf-8', 'replace')!r}"))
    image, image_issues = _decode(values, keys)
    return label, image, filename, issues + image_issues


def _decode(values, keys):
    try:
        image = Image.open(io.BytesIO(values[keys["image"]]))
        image.load()
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ... on bad data.
        return None, [("bad_image", f"the image does not decode ({type(e).__name__}: {_one_line(e)})")]
    issues = []
    if "height" in keys:
        recorded = tuple(values[keys[k]] for k in ("width", "height", "channels"))
        decoded = (image.width, image.height, len(image.getbands()))
        if recorded != decoded:
            issues.append(("image_mismatch", "the image is {}x{}x{}, the record says {}x{}x{}"
                           .format(*decoded, *recorded)))
        recorded_format = values[keys["format"]].decode("ascii", "replace").upper()
        if recorded_format != {"MPO": "JPEG"}.get(image.format, image.format):
            issues.append(("image_mismatch",
                           f"the image is {image.format}, the record says {recorded_format}"))
    return image, issues


def _one_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class _HashingReader:
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, raw, bar):
        self._raw = io.BufferedReader(raw, _CHUNK_BYTES) if isinstance(raw, io.RawIOBase) else raw
        self._bar = bar
        self._sha256 = hashlib.sha256()

    def read(self, size=-1):
        data = self._raw.read(size)
        self._sha256.update(data)
        self._bar.add(num_bytes=len(data))
        return data

    def drain(self):
        while self.read(_CHUNK_BYTES):
            pass

    def hexdigest(self):
        return self._sha256.hexdigest()


# How often the bar is redrawn in place on a terminal, and how often it prints
# a new line elsewhere (a log or CI, where carriage returns would pile up).
_TTY_INTERVAL_S = 0.5
_LOG_INTERVAL_S = 5.0
_MIB = 1024 * 1024


class ProgressBar:
    """'checking: 120/398 records, 12.1/45.0 MiB (27%), 310 records/s' on stderr while a pass runs.

    Totals come from dataset_info.json. Nothing is left on screen once the
    pass ends: the report follows.
    """

    def __init__(self, total_records, total_bytes, stream=None, interval_s=None):
        self._stream = stream or sys.stderr
        self._tty = getattr(self._stream, "isatty", lambda: False)()
        self._interval_s = interval_s or (_TTY_INTERVAL_S if self._tty else _LOG_INTERVAL_S)
        self._totals = (total_records, total_bytes)
        self._done = [0, 0]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inspect-progress", daemon=True)
        self._start = time.monotonic()
        self._drawn = 0

    def add(self, records=0, num_bytes=0):
        with self._lock:
            self._done[0] += records
            self._done[1] += num_bytes

    def line(self):
        with self._lock:
            (records, num_bytes), (total_records, total_bytes) = self._done, self._totals
        elapsed = max(time.monotonic() - self._start, 1e-9)
        percent = 100 * num_bytes // total_bytes if total_bytes else 100
        counted = f"{records}/{total_records} records, " if total_records else ""
        return (f"checking: {counted}{num_bytes / _MIB:.1f}/{total_bytes / _MIB:.1f} MiB "
                f"({percent}%), {records / elapsed:.0f} records/s")

    def __enter__(self):
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        if self._drawn:  # Wipe the in-place line.
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()

    def _run(self):
        while not self._stop.wait(self._interval_s):
            line = self.line()
            if self._tty:
                self._stream.write("\r" + line.ljust(self._drawn))
                self._drawn = max(self._drawn, len(line))
            else:
                self._stream.write(line + "\n")
            self._stream.flush()
