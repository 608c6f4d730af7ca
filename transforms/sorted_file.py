"""A file of sorted lines, written without one worker holding every line.

errors.jsonl and duplicates.jsonl are sorted, so that reruns give the same
bytes. Sorting one in a single worker holds all of its rows there (5 million
error rows when 5% of 100 million images fail), and on Flink such a list is
one element of Beam's data plane: 300,000 error rows broke it. Here the
lines are cut into pieces at boundaries of their sort key, each piece is
sorted by its own worker into a part file, and the parts are copied into the
file in order, one at a time (a streamed concatenation: on S3 a multipart
upload).

Any boundaries give the same bytes, since each piece holds the keys between
two of them, sorted. The boundaries come from a sample of the keys, a fixed
share chosen by a hash of the key, so they decide only how even the pieces
are: with SAMPLES_PER_PIECE sampled keys between two boundaries, a piece
holds PIECE_TARGET lines give or take a quarter.
"""

import bisect
import dataclasses
import hashlib

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics
from transforms.paths import join
from transforms.sorted_lines import file_bytes
from transforms.storage import Storage
from transforms.storage import temporary_for

# Lines a piece is cut for: a piece is one element on a cluster's data plane
# (about a MB of error rows), and the boundaries a side input of
# lines / PIECE_TARGET keys.
PIECE_TARGET = 5_000
# Sampled keys per piece: piece sizes vary by about 1/sqrt(16) = 25%, so the
# largest of thousands of pieces stays within twice the target.
SAMPLES_PER_PIECE = 16
_HASH_SPACE = 1 << 64
_COPY_CHUNK = 1 << 20  # Bytes a part is copied by.


@dataclasses.dataclass(frozen=True)
class Part:
    """A piece of the file, sorted and written: its place and where it is."""

    index: int
    path: str


def _sampled(line, target=PIECE_TARGET):
    """True for SAMPLES_PER_PIECE keys in `target`, the same in every run and worker."""
    digest = hashlib.blake2b(repr(line.key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") * target < _HASH_SPACE * SAMPLES_PER_PIECE


def boundaries(sample, count, target=PIECE_TARGET):
    """The keys that cut `count` lines into pieces of about `target`, from a
    sample of their keys: the first key of each piece but the first."""
    pieces = max(1, -(-count // target))
    sample = sorted(sample)
    if pieces == 1 or not sample:
        return []
    return [sample[len(sample) * i // pieces] for i in range(1, pieces)]


@dataclasses.dataclass(frozen=True)
class Counted:
    """The lines' count and the keys _sampled picked (about
    SAMPLES_PER_PIECE per `target` lines: bounded by the pieces)."""

    count: int
    sample: list


class _CountAndSample(beam.CombineFn):
    """Lines -> Counted: one combine, not a count and a list (each combine
    costs bundles on the local runner)."""

    def __init__(self, target):
        self._target = target

    def create_accumulator(self):
        return 0, []

    def add_input(self, accumulator, line):
        count, sample = accumulator
        if _sampled(line, self._target):
            sample.append(line.key)
        return count + 1, sample

    def merge_accumulators(self, accumulators):
        count, sample = 0, []
        for other_count, other_sample in accumulators:
            count += other_count
            sample.extend(other_sample)
        return count, sample

    def extract_output(self, accumulator):
        return Counted(*accumulator)


def _piece(line, cuts):
    """(the piece `line` falls in, line): equal keys fall in one piece."""
    return bisect.bisect_right(cuts, line.key), line


class _WritePart(beam.DoFn):
    """(piece index, its lines) -> the piece sorted into a hidden part file
    beside the file (a temporary of storage.py: a killed run's are removed by
    the next run's last step)."""

    def __init__(self, folder, name, s3_client_settings):
        self._folder = folder
        self._name = name
        self._s3_client_settings = s3_client_settings
        self._sizes = Metrics.distribution(metrics.METRICS_NAMESPACE, metrics.group_size_name(name))

    def setup(self):
        self._storage = Storage(self._s3_client_settings)

    def process(self, piece):
        index, lines = piece
        lines = list(lines)
        self._sizes.update(len(lines))
        path = temporary_for(join(self._folder, f"{self._name}.part-{index:06d}"))
        self._storage.write(path, file_bytes(lines))
        yield Part(index, path)


class _Concatenate(beam.DoFn):
    """The parts, in order, copied into the file a chunk at a time; then removed."""

    def __init__(self, folder, name, s3_client_settings):
        self._folder = folder
        self._name = name
        self._s3_client_settings = s3_client_settings

    def setup(self):
        self._storage = Storage(self._s3_client_settings)

    def process(self, _, parts):
        parts = sorted(parts, key=lambda part: part.index)
        with self._storage.open_atomic(join(self._folder, self._name)) as out:
            for part in parts:
                with self._storage.open_read(part.path) as source:
                    for chunk in iter(lambda: source.read(_COPY_CHUNK), b""):
                        out.write(chunk)
        self._storage.delete([part.path for part in parts])
        yield self._name


class WriteSortedLines(beam.PTransform):
    """Lines -> the file `folder`/`name` of their texts sorted by key (empty
    for no line); outputs the name once written, for a later step to wait on."""

    def __init__(self, folder, name, s3_client_settings, *, target=PIECE_TARGET):
        super().__init__()
        self._folder = folder
        self._name = name
        self._s3_client_settings = s3_client_settings
        self._target = target

    def expand(self, lines):
        target = self._target
        cuts = (
            lines
            | "CountAndSample" >> beam.CombineGlobally(_CountAndSample(target))
            | "Boundaries" >> beam.Map(lambda counted: boundaries(counted.sample, counted.count, target))
        )
        parts = (
            lines
            | "Piece" >> beam.Map(_piece, beam.pvalue.AsSingleton(cuts))
            | "Group" >> beam.GroupByKey()
            | "WritePart" >> beam.ParDo(_WritePart(self._folder, self._name, self._s3_client_settings))
        )
        return (
            lines.pipeline
            | "Once" >> beam.Create([None])
            | "Concatenate"
            >> beam.ParDo(_Concatenate(self._folder, self._name, self._s3_client_settings), beam.pvalue.AsList(parts))
        )
