"""transforms/line_ranges.py: a file read in byte ranges gives each of its
lines exactly once, whatever the cut points, the read size and the line
endings, on disk and on both S3 servers; and ReadManifest in ranges gives
the rows, error rows and line numbers of the manifest as written.

The lines are checked against Python's own universal-newline reader
(io.TextIOWrapper with newline="", which the manifest reader used before it
read in ranges), over latin-1 so that any byte is one character and only
\\r, \\n and \\r\\n end lines (NEL, \\x85, and the separators \\x0b to \\x1e,
which str.splitlines takes for line ends, do not)."""

import functools
import io
import random

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from tests.beam_util import local_pipeline
from tests.conftest import on_both_s3_servers
from transforms import line_ranges
from transforms import manifest
from transforms.errors import ERRORS
from transforms.label import KeyedImage
from transforms.storage import Storage

EDGE_CASES = [
    b"",
    b"a",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\r",
    b"\r\r\n\n",
    b"ab\r\ncd",
    b"ab\rcd\n",
    b"\xef\xbb\xbfh\r\n\r\nx",
    b"one line without an end",
    "ü\ré\r\n\x85x\n".encode(),
]
_ALPHABET = [b"a", b"bc", b"\r", b"\n", b"\r\n", "é".encode(), b"\x85", b"\x0b\x0c\x1c\x1d\x1e", b" "]


def _random_cases(count, seed=7):
    rng = random.Random(seed)
    return [b"".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 30))) for _ in range(count)]


def _python_lines(data):
    """(offset, line) by Python's universal-newline reader."""
    lines, offset = [], 0
    for line in io.TextIOWrapper(io.BytesIO(data), encoding="latin-1", newline=""):
        lines.append((offset, line.encode("latin-1")))
        offset += len(line)
    return lines


def _ranged_lines(path, size, range_bytes):
    open_read = functools.partial(Storage({}).open_read, path)
    ranges = line_ranges.byte_ranges(size, range_bytes)
    assert [r.index for r in ranges] == list(range(len(ranges)))
    assert ranges[0].start == 0 and ranges[-1].stop == size
    return [line for r in ranges for line in line_ranges.lines_in_range(open_read, r)]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, line_ranges._CHUNK_BYTES])
def test_every_line_once_at_every_cut(chunk_bytes, tmp_path, monkeypatch):
    monkeypatch.setattr(line_ranges, "_CHUNK_BYTES", chunk_bytes)
    path = str(tmp_path / "lines")
    for data in EDGE_CASES + _random_cases(60):
        with open(path, "wb") as f:
            f.write(data)
        expected = _python_lines(data)
        for range_bytes in range(1, len(data) + 2):
            assert _ranged_lines(path, len(data), range_bytes) == expected, (data, range_bytes)


def test_line_numbers_add_up_across_ranges():
    offsets = line_ranges.LineOffsets({2: 5, 0: 3, 1: 0})
    assert [offsets.number(0, 1), offsets.number(0, 3), offsets.number(2, 1), offsets.number(2, 5)] == [1, 3, 4, 8]


@on_both_s3_servers
def test_ranges_of_an_s3_object_are_its_lines(s3_client, s3_settings, bucket):
    """Ranged GETs from an offset: both servers honour them, and the stream
    knows the object's size from a GET that starts past 0."""
    data = b"".join(_random_cases(40, seed=11))
    s3_client.put_object(Bucket=bucket, Key="m/lines.csv", Body=data)
    storage = Storage(s3_settings)
    path = f"s3://{bucket}/m/lines.csv"
    assert storage.size(path) == len(data)
    with storage.open_read(path, 5) as stream:
        assert stream.read() == data[5:]
    open_read = functools.partial(storage.open_read, path)
    for range_bytes in (7, 64, len(data)):
        ranges = line_ranges.byte_ranges(len(data), range_bytes)
        got = [line for r in ranges for line in line_ranges.lines_in_range(open_read, r)]
        assert got == _python_lines(data), range_bytes


# A CSV manifest with each line ending, a BOM and a blank line before the
# header, a path with a comma and one with spaces and accents, and rows that
# fail; its rows as written (line numbers counted by hand).
MANIFEST = b"".join(
    [
        b"\xef\xbb\xbf\r\n",  # 1: a BOM, then a blank line
        b"path,label\r",  # 2: the header, ended by a bare \r
        b"a.jpg,cat\r\n",  # 3
        "ü/é b.jpg,dog\n".encode(),  # 4
        b"\n",  # 5: blank
        b'"c,d.jpg",cat\r',  # 6
        b'"open.jpg,cat\n',  # 7: bad_row
        b"a.jpg,dog\r\n",  # 8: repeated_path (line 3's)
        b",cat\n",  # 9: no_path
        b"e.jpg,",  # 10: no_label, and no line end
    ]
)


def _expected(base, where):
    keyed = [
        KeyedImage(label="cat", path=f"{base}/a.jpg", line=3),
        KeyedImage(label="dog", path=f"{base}/ü/é b.jpg", line=4),
        KeyedImage(label="cat", path=f"{base}/c,d.jpg", line=6),
    ]
    errors = [
        (7, "bad_row", f"{where}:7"),
        (8, "repeated_path", f"{base}/a.jpg"),
        (9, "no_path", f"{where}:9"),
        (10, "no_label", f"{base}/e.jpg"),
    ]
    return keyed, errors


def _read(path, base, range_bytes, s3_settings=None):
    with local_pipeline() as p:
        read = p | manifest.ReadManifest(
            path,
            base=base,
            label_key=None,
            class_names_given=False,
            s3_client_settings=s3_settings or {},
            range_bytes=range_bytes,
        )
        keyed, errors = _expected(base, path)
        assert_that(read["keyed"], equal_to(keyed))
        rows = read[ERRORS] | "Rows" >> beam.Map(lambda r: (r["line"], r["reason"], r["path"]))
        assert_that(rows, equal_to(errors), label="errors")
        assert_that(read["matched"], equal_to([7]), label="matched")


def test_the_hand_counted_rows_are_the_serial_reader_s():
    """The expectation above is what reading the file serially gives."""
    text = io.TextIOWrapper(io.BytesIO(MANIFEST), encoding="utf-8-sig", newline="")
    got = [(n, row.reason if isinstance(row, manifest.RowError) else row.path) for n, row in manifest.rows(text, "csv")]
    assert got == [(3, "a.jpg"), (4, "ü/é b.jpg"), (6, "c,d.jpg"), (7, "bad_row"), (8, "a.jpg"), (9, "no_path")] + [
        (10, "e.jpg")
    ]


@pytest.mark.parametrize("range_bytes", [1, 6, 13, 40, line_ranges.RANGE_BYTES])
def test_a_manifest_in_ranges_gives_its_rows_and_line_numbers(range_bytes, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(MANIFEST)
    _read(str(path), str(tmp_path), range_bytes)


@on_both_s3_servers
def test_an_s3_manifest_in_ranges_gives_its_rows_and_line_numbers(s3_client, s3_settings, bucket):
    s3_client.put_object(Bucket=bucket, Key="lists/labels.csv", Body=MANIFEST)
    _read(f"s3://{bucket}/lists/labels.csv", f"s3://{bucket}/images", 9, s3_settings)
