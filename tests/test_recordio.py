"""RecordIO framing, image-record headers and .idx/.lst lines: exact bytes by
hand from dmlc-core's rules, round trips through our reader, and the same
bytes as MXNet's own writer and im2rec.py, read back by MXNet's reader."""

import hashlib
import io
import struct

import pytest

from tests.mxnet_env import read_with_mxnet
from tests.mxnet_env import run_mxnet
from transforms.converting import DecodedImage
from transforms.formats import recordio
from transforms.imaging import ConvertedImage

MAGIC = struct.pack("<I", 0xCED7230A)


def _word(cflag, length):
    return struct.pack("<I", cflag << 29 | length)


def _read_all(data):
    return list(recordio.read_records(io.BytesIO(data)))


@pytest.mark.parametrize(
    "payload,expected",
    [
        (b"", MAGIC + _word(0, 0)),
        (b"abc", MAGIC + _word(0, 3) + b"abc\0"),
        (b"abcd", MAGIC + _word(0, 4) + b"abcd"),
        (b"abcde", MAGIC + _word(0, 5) + b"abcde\0\0\0"),
    ],
)
def test_whole_records_are_padded_to_four_bytes(payload, expected):
    assert recordio.frame(payload) == expected
    assert _read_all(expected + expected) == [payload, payload]


@pytest.mark.parametrize(
    "payload,expected",
    [
        # The magic word alone: an empty start, an empty end.
        (MAGIC, MAGIC + _word(1, 0) + MAGIC + _word(3, 0)),
        # At offset 4: the start holds the word before it; the magic itself is dropped.
        (b"abcd" + MAGIC + b"xy", MAGIC + _word(1, 4) + b"abcd" + MAGIC + _word(3, 2) + b"xy\0\0"),
        # Twice in a row, then a tail: start, empty middle, end.
        (MAGIC + MAGIC + b"t", MAGIC + _word(1, 0) + MAGIC + _word(2, 0) + MAGIC + _word(3, 1) + b"t\0\0\0"),
        # Three parts with data: start, middle, end.
        (
            b"1234" + MAGIC + b"5678" + MAGIC + b"9",
            MAGIC + _word(1, 4) + b"1234" + MAGIC + _word(2, 4) + b"5678" + MAGIC + _word(3, 1) + b"9\0\0\0",
        ),
        # As the payload's last aligned word: an empty end.
        (b"abcd" + MAGIC, MAGIC + _word(1, 4) + b"abcd" + MAGIC + _word(3, 0)),
    ],
)
def test_the_magic_word_at_aligned_offsets_splits_the_record(payload, expected):
    assert recordio.frame(payload) == expected
    assert _read_all(expected) == [payload]


@pytest.mark.parametrize("offset", [1, 2, 3, 5, 7])
def test_the_magic_word_off_alignment_stays_in_one_record(offset):
    payload = b"z" * offset + MAGIC + b"tail"
    framed = recordio.frame(payload)
    assert framed[:8] == MAGIC + _word(0, len(payload))
    assert len(framed) == 8 + len(payload) + -len(payload) % 4
    assert _read_all(framed) == [payload]


@pytest.mark.parametrize("offset", range(0, 13))
def test_any_alignment_round_trips(offset):
    payloads = [b"p" * offset + MAGIC + b"q" * n for n in range(6)] + [b"", MAGIC * 3]
    framed = b"".join(recordio.frame(p) for p in payloads)
    assert len(framed) % 4 == 0
    assert _read_all(framed) == payloads


def test_oversized_payloads_are_refused():
    class Huge(bytes):
        def __len__(self):
            return 1 << 29

    with pytest.raises(ValueError, match="at most 536870911 bytes"):
        recordio.frame(Huge())


@pytest.mark.parametrize(
    "data,message",
    [
        (MAGIC + _word(0, 4) + b"ab", "truncated record at byte 0"),
        (MAGIC + _word(0, 0) + MAGIC[:3], "truncated record header at byte 8"),
        (MAGIC + _word(0, 0) + b"\0\0\0\0" + _word(0, 0), "no RecordIO magic word at byte 8"),
        (MAGIC + _word(2, 0), "continuation flag 2 out of sequence at byte 0"),
        (MAGIC + _word(1, 0) + MAGIC + _word(0, 0), "continuation flag 0 out of sequence at byte 8"),
        (MAGIC + _word(1, 0), "ends inside a continued record"),
    ],
)
def test_damaged_files_are_errors(data, message):
    with pytest.raises(ValueError, match=message):
        _read_all(data)


def test_header_packs_as_mxnet_ifqq():
    packed = recordio.pack_header(3, 7)
    assert packed == (b"\0\0\0\0" + struct.pack("<f", 3.0) + (7).to_bytes(8, "little") + bytes(8))
    assert recordio.unpack_header(packed + b"JPEG") == (recordio.Header(0, 3.0, 7, 0), b"JPEG")


def test_header_with_label_array():
    payload = struct.pack("<IfQQ", 2, 0.0, 5, 0) + struct.pack("<2f", 1.5, 2.5) + b"img"
    header, image = recordio.unpack_header(payload)
    assert (header.flag, header.label, header.id, image) == (2, (1.5, 2.5), 5, b"img")
    with pytest.raises(ValueError, match="24-byte header"):
        recordio.unpack_header(b"short")


def test_index_and_list_lines_match_im2rec():
    assert recordio.index_line(3, 1024) == "3\t1024\n"
    assert recordio.list_line(3, 1, "ants/x.jpg") == "3\t1.000000\tants/x.jpg\n"
    # A tab or newline in a file name would break the line: they stay escaped.
    assert recordio.list_line(0, 0, "a/b\tc\nd.jpg") == "0\t0.000000\ta/b\\tc\\nd.jpg\n"


def _image(label, path, encoded):
    return DecodedImage(label, path, ConvertedImage(encoded=encoded, width=1, height=1, channels=3, format="PNG"))


# Images whose records hold the magic word at various aligned offsets (the
# 24-byte header keeps the image's alignment), one with it off alignment.
IMAGES = [
    _image("bees", "bees/a.png", b"plain image bytes"),
    _image("ants", "ants/m0.png", MAGIC + b"after"),
    _image("ants", "ants/m4.png", b"abcd" + MAGIC + MAGIC + b"xyz" + MAGIC),
    _image("bees", "bees/odd.png", b"ab" + MAGIC + b"cd"),
    _image("ants", "ants/empty.png", b""),
    _image("bees", "bees/x y.png", bytes(range(256)) * 3 + MAGIC),
]
LABEL_IDS = {"ants": 0, "bees": 1}


def _write_shard(images):
    sink = io.BytesIO()
    writer = recordio.ShardWriter(sink, LABEL_IDS)
    for image in images:
        writer.write(image)
    return sink.getvalue(), writer.side_files()


def test_shard_writer_keys_offsets_and_list():
    rec, side = _write_shard(IMAGES)
    index_suffix, index = side["index_file"]
    list_suffix, listing = side["list_file"]
    assert (index_suffix, list_suffix) == (".idx", ".lst")
    offsets = []
    for n, line in enumerate(index.decode().splitlines()):
        key, offset = line.split("\t")
        assert int(key) == n
        offsets.append(int(offset))
    assert offsets[0] == 0 and offsets == sorted(offsets)
    with io.BytesIO(rec) as f:
        for n, (image, offset) in enumerate(zip(IMAGES, offsets)):
            f.seek(offset)
            header, encoded = recordio.unpack_header(next(recordio.read_records(f)))
            assert header == (0, LABEL_IDS[image.label], n, 0)
            assert encoded == image.image.encoded
    assert listing.decode().splitlines() == [
        f"{n}\t{LABEL_IDS[image.label]}.000000\t{image.relative_path}" for n, image in enumerate(IMAGES)
    ]


def test_mxnet_writes_the_same_bytes(mxnet_python, tmp_path):
    rec, side = _write_shard(IMAGES)
    run_mxnet(
        mxnet_python,
        {
            "write": [str(tmp_path / "mx.rec"), str(tmp_path / "mx.idx")],
            "records": [[n, LABEL_IDS[image.label], image.image.encoded.hex()] for n, image in enumerate(IMAGES)],
        },
        cwd=tmp_path,
    )
    run_mxnet(
        mxnet_python,
        {
            "list": str(tmp_path / "mx.lst"),
            "items": [[n, image.relative_path, LABEL_IDS[image.label]] for n, image in enumerate(IMAGES)],
        },
        cwd=tmp_path,
    )
    assert (tmp_path / "mx.rec").read_bytes() == rec
    assert (tmp_path / "mx.idx").read_bytes() == side["index_file"][1]
    assert (tmp_path / "mx.lst").read_bytes() == side["list_file"][1]


def test_mxnet_reads_continued_records_by_key_and_by_scan(mxnet_python, tmp_path):
    rec, side = _write_shard(IMAGES)
    (tmp_path / "s.rec").write_bytes(rec)
    (tmp_path / "s.idx").write_bytes(side["index_file"][1])
    read = read_with_mxnet(mxnet_python, [(tmp_path / "s.rec", tmp_path / "s.idx")], tmp_path, images=False)[
        str(tmp_path / "s.rec")
    ]
    payloads = [recordio.pack_header(LABEL_IDS[image.label], n) + image.image.encoded for n, image in enumerate(IMAGES)]
    expected = [{"size": len(p), "sha256": hashlib.sha256(p).hexdigest()} for p in payloads]
    assert read["scan"] == expected
    assert read["by_key"] == [dict(e, key=n) for n, e in enumerate(expected)]
