"""The checks of `im2tfrecord inspect`: a dataset's files and records against its dataset_info.json.

dataset_info.json is what the converter meant to write. These checks read
back what is really there, so that a bad copy, a truncated upload or a label
mix-up shows up before GPU hours are spent on the dataset, not during them.

Quick checks need only dataset_info.json, labels.txt and one listing of the
folder. The record pass (records.py) streams every shard of either format,
a few at a time: S3 reads wait on the network and Pillow decodes outside the GIL.
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import threading

from pipeline import progress
from pipeline.inspection.dataset import side_files
from pipeline.inspection.records import Problems
from pipeline.inspection.records import check_shard
from transforms.layout import DATASET_INFO_FILE
from transforms.layout import DUPLICATES_FILE
from transforms.layout import ERRORS_FILE
from transforms.layout import LABELS_FILE
from transforms.layout import labels_file_bytes
from transforms.layout import parse_shard_name
from transforms.layout import shard_name
from transforms.paths import join

# Shards read at once: S3 GETs overlap their waits and Pillow decodes outside
# the GIL; more threads would only queue for the GIL of the record parser.
SHARDS_AT_ONCE = 4

_INFO = DATASET_INFO_FILE
_MIB = 1 << 20


@dataclasses.dataclass
class Findings:
    file_sizes: dict  # file name -> bytes in storage, of every file in the folder
    class_counts: dict  # split -> {label id: records read}; None for a split not read whole
    problems: list  # of records.Problem, in dataset order
    problem_counts: collections.Counter
    quick: bool
    records_checked: bool  # the record pass ran (it may have stopped at a corrupt record)
    records_read: int = 0


def run_checks(storage, dataset, quick=False, samples=None, progress_stream=None):
    """Runs the checks. `samples` (a contact_sheet.Samples), if given,
    collects the contact sheet's images on the way."""
    problems = Problems()
    sizes = storage.file_sizes(dataset.prefix)
    _check_files(dataset, sizes, problems)
    _check_info(dataset, problems)
    _check_labels_file(storage, dataset, problems)
    _check_errors_file(storage, dataset, sizes, not quick, problems)
    present = [shard for shard in dataset.shards() if shard.file in sizes]
    counts, read = {}, 0
    if not quick:
        counts, read = _record_pass(storage, dataset, present, problems, samples, progress_stream)
        _compare_counts(dataset, counts, problems)
    elif samples is not None:
        read = _sample_pass(storage, dataset, present, problems, samples, progress_stream)
    return Findings(sizes, counts, problems.kept, problems.counts, quick, records_checked=not quick, records_read=read)


class _Tally:
    """Records and bytes read so far by the pass's threads, for its progress line."""

    def __init__(self, total_records, total_bytes):
        self._lock = threading.Lock()
        self._totals = (total_records, total_bytes)
        self._records = self._bytes = 0

    def add(self, records=0, num_bytes=0):
        with self._lock:
            self._records += records
            self._bytes += num_bytes

    def reading(self):
        with self._lock:
            records, num_bytes = self._records, self._bytes
        total_records, total_bytes = self._totals
        return progress.Reading(num_bytes, total_bytes, "MiB", _MIB, detail=f"{records}/{total_records} records")


@contextlib.contextmanager
def _progress(shards, stream):
    """A _Tally of the pass over `shards`, shown on stderr (or `stream`) while it runs."""
    tally = _Tally(sum(s.num_examples for s in shards), sum(s.num_bytes for s in shards))
    with progress.Progress("checking", tally.reading, stream=stream):
        yield tally


def _check_files(dataset, sizes, problems):
    """Every listed file is there at its size; no stray shard that a glob would read too."""
    for shard in dataset.shards():
        if shard.file not in sizes:
            problems.add(shard.file, "missing_shard", f"listed in {_INFO} but not found")
        elif sizes[shard.file] != shard.num_bytes:
            problems.add(shard.file, "size_mismatch", f"{sizes[shard.file]} bytes, {_INFO} says {shard.num_bytes}")
        for side in shard.side_files:
            if side not in sizes:
                problems.add(side, "missing_shard", f"{shard.file}'s companion file is not found")
    listed = {
        name
        for split in dataset.info["splits"].values()
        for shard in split["shards"]
        for name in [shard["file"], *side_files(shard)]
    }
    for name in sorted(sizes):
        parsed = parse_shard_name(name)
        if parsed and parsed[0] in dataset.splits and name not in listed:
            problems.add(
                name,
                "unlisted_shard",
                f"a shard file that {_INFO} does not list; a reader globbing {parsed[0]}-* would read it too",
            )


def _check_info(dataset, problems):
    """dataset_info.json agrees with itself: shard names, split totals, class counts."""
    info = dataset.info
    for name, shards in dataset.splits.items():
        split = info["splits"][name]
        for field, total in (
            ("num_shards", len(shards)),
            ("num_examples", sum(s.num_examples for s in shards)),
            ("num_bytes", sum(s.num_bytes for s in shards)),
        ):
            if split.get(field) != total:
                problems.add(
                    _INFO, "count_mismatch", f"{name}: {field} is {split.get(field)}, its shards add up to {total}"
                )
        expected = {shard_name(name, i, len(shards), dataset.record_format.suffix) for i in range(len(shards))}
        for shard in shards:
            if shard.file not in expected:
                problems.add(shard.file, "shard_name", f"not a name of one of {name}'s {len(shards)} shards")
        per_class = split.get("per_class") or {}
        unknown = sorted(set(per_class) - set(dataset.labels))
        if unknown:
            problems.add(_INFO, "unknown_class", f"{name}: per_class names classes not in labels: {', '.join(unknown)}")
        if per_class and sum(per_class.values()) != split.get("num_examples"):
            problems.add(
                _INFO,
                "count_mismatch",
                f"{name}: per_class adds up to {sum(per_class.values())}, num_examples is {split.get('num_examples')}",
            )
    written = sum(split.get("num_examples", 0) for split in info["splits"].values())
    counts = info.get("counts") or {}
    if counts and counts.get("written") != written:
        problems.add(_INFO, "count_mismatch", f"counts.written is {counts.get('written')}, the splits hold {written}")


def _check_labels_file(storage, dataset, problems):
    try:
        data = storage.read(join(dataset.prefix, LABELS_FILE))
    except Exception:  # Missing: each filesystem raises its own kind.
        problems.add(LABELS_FILE, "missing_file", "not found")
        return
    if data != labels_file_bytes(dataset.labels):
        problems.add(LABELS_FILE, "labels_mismatch", f"does not list the labels of {_INFO}, in order")


def _check_errors_file(storage, dataset, sizes, read_rows, problems):
    """errors.jsonl is there; read whole (`read_rows`), it has a row per
    rejected file; so has duplicates.jsonl a row per group, where the
    dataset has one."""
    errors = dataset.info.get("errors") or {}
    _check_rows(storage, dataset, sizes, read_rows, problems, errors.get("file", ERRORS_FILE), errors.get("count", 0))
    duplicates = dataset.info.get("duplicates")
    if duplicates is not None:
        name = duplicates.get("file", DUPLICATES_FILE)
        _check_rows(storage, dataset, sizes, read_rows, problems, name, duplicates.get("groups", 0))


def _check_rows(storage, dataset, sizes, read_rows, problems, name, expected):
    if name not in sizes:
        problems.add(name, "missing_file", "not found")
        return
    if not read_rows:
        return
    data = storage.read(join(dataset.prefix, name))
    rows = sum(1 for line in data.splitlines() if line.strip())
    if rows != expected:
        problems.add(name, "count_mismatch", f"{rows} rows, {_INFO} says {expected}")


def _path(dataset, shard):
    return join(dataset.prefix, shard.file)


def _rank(dataset, shard):
    """A shard's place in dataset order: what makes the sampled images the same on every run."""
    return list(dataset.splits).index(shard.split), shard.position


def _record_pass(storage, dataset, shards, problems, samples, progress_stream):
    """({split: {label: records}}, records read); None for a split not read whole."""
    spec, stop = dataset.record_spec(), threading.Event()
    with _progress(shards, progress_stream) as bar, concurrent.futures.ThreadPoolExecutor(SHARDS_AT_ONCE) as pool:
        futures = {
            shard: pool.submit(
                check_shard,
                storage,
                _path(dataset, shard),
                shard,
                spec,
                bar,
                samples,
                _rank(dataset, shard),
                until=stop.is_set,
            )
            for shard in shards
        }
        try:
            results = {shard: future.result() for shard, future in futures.items()}
        except BaseException:  # Ctrl-C: threads stop at their next record, not their shard's end.
            stop.set()
            pool.shutdown(cancel_futures=True)
            raise
    counts = {}
    for name, split_shards in dataset.splits.items():
        counted = collections.Counter()
        for shard in split_shards:
            result = results.get(shard)
            if result is None or not result.all_records:
                counted = None
            elif counted is not None:
                counted.update(result.per_class)
            if result is not None:
                problems.merge(result.problems)
        counts[name] = counted
    return counts, sum(result.records for result in results.values())


def _compare_counts(dataset, counts, problems):
    """Records read per class against per_class, for the splits read whole."""
    for name, counted in counts.items():
        expected = dataset.info["splits"][name].get("per_class")
        if counted is None or expected is None:
            continue
        read = {dataset.labels[label]: n for label, n in counted.items()}
        differ = sorted(k for k in set(expected) | set(read) if expected.get(k, 0) != read.get(k, 0))
        if differ:
            problems.add(
                _INFO,
                "count_mismatch",
                f"{name}: records read per class differ from "
                "per_class: "
                + ", ".join(f"{k} {read.get(k, 0)} read, {expected.get(k, 0)} listed" for k in differ[:5]),
            )


def _sample_pass(storage, dataset, shards, problems, samples, progress_stream):
    """--quick with a contact sheet: shards in order, until every class has its
    samples. Returns the number of records read."""
    spec, read = dataset.record_spec(), 0
    with _progress(shards, progress_stream) as bar:
        for shard in shards:
            result = check_shard(
                storage, _path(dataset, shard), shard, spec, bar, samples, _rank(dataset, shard), until=samples.complete
            )
            problems.merge(result.problems)
            read += result.records
            if samples.complete():
                break
    return read
