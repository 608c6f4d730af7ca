"""The checks of `im2tfrecord inspect`: a dataset's files and records against its dataset_info.json.

dataset_info.json is what the converter meant to write. These checks read
back what is really there, so that a bad copy, a truncated upload or a label
mix-up shows up before GPU hours are spent on the dataset, not during them.

Quick checks need only dataset_info.json, labels.txt and one listing of the
folder. The record pass (inspect_records.py) streams every shard, a few at a
time: S3 reads wait on the network and Pillow decodes outside the GIL.
"""

import collections
import concurrent.futures
import dataclasses
import os
import posixpath
import threading

from apache_beam.io.filesystems import FileSystems

from pipeline.inspect_info import side_files
from pipeline.inspect_records import Problems
from pipeline.inspect_records import ProgressBar
from pipeline.inspect_records import check_shard
from pipeline.inspect_records import hash_file
from transforms.label import labels_file_bytes
from transforms.layout import ERRORS_FILE
from transforms.layout import LABELS_FILE
from transforms.layout import RECORDIO
from transforms.layout import RECORDIO_SUFFIX
from transforms.layout import SHARD_SUFFIX
from transforms.layout import TFRECORD
from transforms.layout import parse_shard_name
from transforms.layout import shard_name
from transforms.storage import is_s3
from transforms.storage import split_s3_path

# Shards read at once: S3 GETs overlap their waits and Pillow decodes outside
# the GIL; more threads would only queue for the GIL of the Example parser.
SHARDS_AT_ONCE = 4

_SUFFIXES = {TFRECORD: SHARD_SUFFIX, RECORDIO: RECORDIO_SUFFIX}
_INFO = "dataset_info.json"


@dataclasses.dataclass
class Findings:
    file_sizes: dict     # file name -> bytes in storage, of every file in the folder
    class_counts: dict   # split -> {label id: records read}; None for a split not read whole
    problems: list       # of inspect_records.Problem, in dataset order
    problem_counts: collections.Counter
    notes: list
    quick: bool
    records_checked: bool  # the record pass ran (it may have stopped at a corrupt record)
    records_read: int = 0


def run_checks(storage, dataset, quick=False, samples=None, progress_stream=None):
    """Runs the checks. `samples` (a contact_sheet.Samples), if given,
    collects the contact sheet's images on the way."""
    problems = Problems()
    sizes = file_sizes(storage, dataset.prefix)
    _check_files(dataset, sizes, problems)
    _check_info(dataset, problems)
    _check_labels_file(storage, dataset, problems)
    _check_errors_file(storage, dataset, sizes, not quick, problems)
    present = [shard for shard in dataset.shards() if shard.file in sizes]
    notes, counts, read = [], {}, 0
    if dataset.format == RECORDIO:
        # RecordIO, for now: files, sizes and sha256 only. When a pure-Python
        # RecordIO reader lands, this branch goes and the record pass covers both.
        notes.append("RecordIO records are not validated yet: only files, sizes and sha256")
        if not quick:
            _hash_all(storage, dataset, present, problems, progress_stream)
    elif not quick:
        counts, read = _record_pass(storage, dataset, present, problems, samples, progress_stream)
        _compare_counts(dataset, counts, problems)
    elif samples is not None:
        read = _sample_pass(storage, dataset, present, problems, samples, progress_stream)
    return Findings(sizes, counts, problems.kept, problems.counts, notes, quick,
                    records_checked=not quick and dataset.format == TFRECORD, records_read=read)


def file_sizes(storage, prefix):
    """{name: bytes} of the files directly in `prefix`: one listing, not a request per shard."""
    if is_s3(prefix):
        bucket, key_prefix = split_s3_path(prefix.rstrip("/") + "/")
        pages = storage.s3_client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key_prefix, Delimiter="/")
        return {item["Key"][len(key_prefix):]: item["Size"]
                for page in pages for item in page.get("Contents", [])}
    if "://" not in prefix:  # Not through a glob: a folder name may hold '[' or '*'.
        return {entry.name: entry.stat().st_size for entry in os.scandir(prefix) if entry.is_file()}
    pattern = FileSystems.join(prefix.rstrip("/"), "*")
    return {posixpath.basename(m.path): m.size_in_bytes
            for m in FileSystems.match([pattern])[0].metadata_list}


def _check_files(dataset, sizes, problems):
    """Every listed file is there at its size; no stray shard that a glob would read too."""
    for shard in dataset.shards():
        if shard.file not in sizes:
            problems.add(shard.file, "missing_shard", f"listed in {_INFO} but not found")
        elif sizes[shard.file] != shard.num_bytes:
            problems.add(shard.file, "size_mismatch",
                         f"{sizes[shard.file]} bytes, {_INFO} says {shard.num_bytes}")
        for side in shard.side_files:
            if side not in sizes:
                problems.add(side, "missing_shard", f"{shard.file}'s companion file is not found")
    listed = {name for split in dataset.info["splits"].values() for shard in split["shards"]
              for name in [shard["file"], *side_files(shard)]}
    for name in sorted(sizes):
        parsed = parse_shard_name(name)
        if parsed and parsed[0] in dataset.splits and name not in listed:
            problems.add(name, "unlisted_shard", f"a shard file that {_INFO} does not list; "
                         f"a reader globbing {parsed[0]}-* would read it too")


def _check_info(dataset, problems):
    """dataset_info.json agrees with itself: shard names, split totals, class counts."""
    info = dataset.info
    for name, shards in dataset.splits.items():
        split = info["splits"][name]
        for field, total in (("num_shards", len(shards)),
                             ("num_examples", sum(s.num_examples for s in shards)),
                             ("num_bytes", sum(s.num_bytes for s in shards))):
            if split.get(field) != total:
                problems.add(_INFO, "count_mismatch",
                             f"{name}: {field} is {split.get(field)}, its shards add up to {total}")
        expected = {shard_name(name, i, len(shards), _SUFFIXES[dataset.format])
                    for i in range(len(shards))}
        for shard in shards:
            if shard.file not in expected:
                problems.add(shard.file, "shard_name", f"not a name of one of {name}'s "
                             f"{len(shards)} shards")
        per_class = split.get("per_class") or {}
        unknown = sorted(set(per_class) - set(dataset.labels))
        if unknown:
            problems.add(_INFO, "unknown_class",
                         f"{name}: per_class names classes not in labels: {', '.join(unknown)}")
        if per_class and sum(per_class.values()) != split.get("num_examples"):
            problems.add(_INFO, "count_mismatch", f"{name}: per_class adds up to "
                         f"{sum(per_class.values())}, num_examples is {split.get('num_examples')}")
    written = sum(split.get("num_examples", 0) for split in info["splits"].values())
    counts = info.get("counts") or {}
    if counts and counts.get("written") != written:
        problems.add(_INFO, "count_mismatch",
                     f"counts.written is {counts.get('written')}, the splits hold {written}")


def _check_labels_file(storage, dataset, problems):
    try:
        data = storage.read(FileSystems.join(dataset.prefix, LABELS_FILE))
    except Exception:  # Missing: each filesystem raises its own kind.
        problems.add(LABELS_FILE, "missing_file", "not found")
        return
    if data != labels_file_bytes(dataset.labels):
        problems.add(LABELS_FILE, "labels_mismatch", f"does not list the labels of {_INFO}, in order")


def _check_errors_file(storage, dataset, sizes, read_rows, problems):
    """errors.jsonl is there; read whole (`read_rows`), it has a row per rejected file."""
    errors = dataset.info.get("errors") or {}
    name = errors.get("file", ERRORS_FILE)
    if name not in sizes:
        problems.add(name, "missing_file", "not found")
        return
    if not read_rows:
        return
    data = storage.read(FileSystems.join(dataset.prefix, name))
    rows = sum(1 for line in data.splitlines() if line.strip())
    if rows != errors.get("count", 0):
        problems.add(name, "count_mismatch", f"{rows} rows, {_INFO} says {errors.get('count', 0)}")


def _path(dataset, shard):
    return FileSystems.join(dataset.prefix, shard.file)


def _rank(dataset, shard):
    """A shard's place in dataset order: what makes the sampled images the same on every run."""
    return list(dataset.splits).index(shard.split), shard.position


def _record_pass(storage, dataset, shards, problems, samples, progress_stream):
    """({split: {label: records}}, records read); None for a split not read whole."""
    spec, stop = dataset.record_spec(), threading.Event()
    totals = sum(s.num_examples for s in shards), sum(s.num_bytes for s in shards)
    with ProgressBar(*totals, stream=progress_stream) as bar, \
            concurrent.futures.ThreadPoolExecutor(SHARDS_AT_ONCE) as pool:
        futures = {shard: pool.submit(check_shard, storage, _path(dataset, shard), shard, spec,
                                      bar, samples, _rank(dataset, shard), until=stop.is_set)
                   for shard in shards}
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
            problems.add(_INFO, "count_mismatch", f"{name}: records read per class differ from "
                         "per_class: " + ", ".join(f"{k} {read.get(k, 0)} read, "
                                                   f"{expected.get(k, 0)} listed" for k in differ[:5]))


def _sample_pass(storage, dataset, shards, problems, samples, progress_stream):
    """--quick with a contact sheet: shards in order, until every class has its
    samples. Returns the number of records read."""
    spec, read = dataset.record_spec(), 0
    with ProgressBar(sum(s.num_examples for s in shards), sum(s.num_bytes for s in shards),
                     stream=progress_stream) as bar:
        for shard in shards:
            result = check_shard(storage, _path(dataset, shard), shard, spec, bar, samples,
                                 _rank(dataset, shard), until=samples.complete)
            problems.merge(result.problems)
            read += result.records
            if samples.complete():
                break
    return read


def _hash_all(storage, dataset, shards, problems, progress_stream):
    def digest(shard):
        try:
            return hash_file(storage, _path(dataset, shard), bar)
        except Exception as e:  # Unreadable: a finding about this shard, not the end of the pass.
            return e

    with ProgressBar(0, sum(s.num_bytes for s in shards), stream=progress_stream) as bar, \
            concurrent.futures.ThreadPoolExecutor(SHARDS_AT_ONCE) as pool:
        digests = list(pool.map(digest, shards))
    for shard, found in zip(shards, digests):
        if isinstance(found, Exception):
            problems.add(shard.file, "read_error", f"cannot be read: {type(found).__name__}: {found}")
        elif found != shard.sha256:
            problems.add(shard.file, "checksum_mismatch",
                         f"sha256 {found[:16]}... is not {_INFO}'s {str(shard.sha256)[:16]}...")
