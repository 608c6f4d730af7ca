"""The RecordIO format: the .rec, .idx and .lst files of MXNet's im2rec.py, without MXNet.

SageMaker's built-in image classification algorithm recommends RecordIO, and
MXNet, whose im2rec.py makes it, is retired: its last release installs only
beside NumPy older than 1.24. The format is small enough to write here.

Framing is dmlc-core's (src/recordio.cc), byte for byte. Each record is

  uint32 magic 0xced7230a | uint32 cflag << 29 | length | data | zeros to a multiple of 4

all little-endian. A payload that holds the magic word at a 4-byte-aligned
offset is cut there into parts (cflag 1 start, 2 middle, 3 end; 0 is a whole
record): the magic word itself is dropped at each cut and the reader puts it
back. A reader that lost its place can then resynchronise on the magic word.

Each payload is an image record as MXNet's `recordio.pack` makes it: the
header struct IfQQ (flag 0, the label id as a float32, id, id2 0), then the
encoded image. As in im2rec.py, a record's header id, its .idx key and its
.lst index are one number; ours count 0..n-1 in record order within each
shard, so every shard's .idx and .lst stand alone.

  .idx   one line per record: key <TAB> byte offset of the record in the .rec
  .lst   one line per record: index <TAB> label as %f <TAB> path below --input
"""

import collections
import struct

from transforms.formats import RECORDIO
from transforms.formats import RecordFormat
from transforms.formats import read_exactly

SUFFIX = ".rec"
INDEX_SUFFIX = ".idx"
LIST_SUFFIX = ".lst"

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_WORD = 4  # Parts are cut, and payloads padded, on 4-byte boundaries.

# The 32-bit word after the magic: 3 bits of continuation flag, 29 of length.
_LENGTH_BITS = 29
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
# dmlc-core refuses a payload of 2**29 bytes or more (its CHECK in WriteRecord).
MAX_PAYLOAD_BYTES = _LENGTH_MASK

# Continuation flags.
WHOLE, START, MIDDLE, END = 0, 1, 2, 3

# MXNet's IRHeader: flag (number of float labels after the header; 0 means
# the single `label` field), label, id, id2. Native layout on x86 is this,
# little-endian with no padding: 24 bytes.
_HEADER = struct.Struct("<IfQQ")
Header = collections.namedtuple("Header", ["flag", "label", "id", "id2"])

# What dataset_info.json says of the records, for readers without this module.
LAYOUT = {
    "framing": "dmlc-core RecordIO, magic 0xced7230a",
    "header": "<IfQQ: flag 0, label id as float32, id = key, id2 0; then the encoded image",
    "keys": "per shard, 0..n-1 in record order (header id = .idx key = .lst index)",
}

# Characters that would end a .lst field or line early. im2rec.py never
# meets them; here such a path keeps them escaped (readers use only the
# index and label columns).
_LIST_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def frame(payload):
    """The bytes of one RecordIO record holding `payload`."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a RecordIO record holds at most {MAX_PAYLOAD_BYTES} bytes, got {len(payload)}")
    parts, start = [], 0
    for cut in _aligned_magic_offsets(payload):
        parts.append(_part(START if start == 0 else MIDDLE, payload[start:cut]))
        start = cut + _WORD
    parts.append(_part(WHOLE if start == 0 else END, payload[start:]))
    return b"".join(parts)


def _aligned_magic_offsets(payload):
    """Offsets of the magic word in `payload` at multiples of 4, as dmlc-core
    scans (a trailing partial word is never checked)."""
    end = len(payload) - len(payload) % _WORD
    at = payload.find(_MAGIC_BYTES, 0, end)
    while at != -1:
        if at % _WORD == 0:
            yield at
            at = payload.find(_MAGIC_BYTES, at + _WORD, end)
        else:
            at = payload.find(_MAGIC_BYTES, at + 1, end)


def _part(cflag, data):
    return b"".join(
        (_MAGIC_BYTES, struct.pack("<I", cflag << _LENGTH_BITS | len(data)), data, bytes(-len(data) % _WORD))
    )


def read_records(fileobj):
    """Yields the payloads of a RecordIO file object from its current position,
    joining continued parts; raises ValueError where the file is not RecordIO."""
    seekable = getattr(fileobj, "seekable", lambda: False)()
    parts, position = [], fileobj.tell() if seekable else 0
    while True:
        head = read_exactly(fileobj, 8)
        if not head:
            if parts:
                raise ValueError(f"the file ends inside a continued record at byte {position}")
            return
        if len(head) < 8:
            raise ValueError(f"truncated record header at byte {position}")
        magic, word = struct.unpack("<II", head)
        if magic != MAGIC:
            raise ValueError(f"no RecordIO magic word at byte {position}")
        cflag, length = word >> _LENGTH_BITS, word & _LENGTH_MASK
        if cflag > END or (cflag in (WHOLE, START)) != (not parts):
            raise ValueError(f"continuation flag {cflag} out of sequence at byte {position}")
        padded = length + -length % _WORD
        data = read_exactly(fileobj, padded)
        if len(data) < padded:
            raise ValueError(f"truncated record at byte {position}")
        parts.append(data[:length])
        position += 8 + padded
        if cflag in (WHOLE, END):
            yield _MAGIC_BYTES.join(parts)
            parts = []


def pack_header(label, record_id):
    """The IfQQ header of an image record with one label, as MXNet packs it."""
    return _HEADER.pack(0, float(label), record_id, 0)


def unpack_header(payload):
    """(Header, image bytes) of an image record. A header with flag N > 0 is
    followed by N float32 labels, which become the header's label (a tuple)."""
    if len(payload) < _HEADER.size:
        raise ValueError(f"an image record starts with a {_HEADER.size}-byte header, got {len(payload)} bytes")
    header = Header(*_HEADER.unpack_from(payload))
    image = payload[_HEADER.size :]
    if header.flag > 0:
        labels = struct.unpack_from(f"<{header.flag}f", image)
        header, image = header._replace(label=labels), image[4 * header.flag :]
    return header, image


def index_line(key, offset):
    """One .idx line, as MXIndexedRecordIO.write_idx writes it."""
    return f"{key}\t{offset}\n"


def list_line(index, label, relative_path):
    """One .lst line, as im2rec.py's write_list writes it (label as %f)."""
    return f"{index}\t{float(label):f}\t{relative_path.translate(_LIST_ESCAPES)}\n"


class ShardWriter:
    """Writes one shard's image records to `sink` (its .rec), and keeps its
    .idx and .lst lines to be written once the records are."""

    def __init__(self, sink, label_ids, schema=None):  # No schema: no feature keys.
        self._sink = sink
        self._label_ids = label_ids
        self._offset = 0
        self._index = []
        self._list = []

    def write(self, image):
        """Appends a DecodedImage as the next record."""
        key, label = len(self._index), self._label_ids[image.label]
        record = frame(pack_header(label, key) + image.image.encoded)
        self._sink.write(record)
        self._index.append(index_line(key, self._offset))
        self._list.append(list_line(key, label, image.relative_path))
        self._offset += len(record)

    def side_files(self):
        """{role in dataset_info.json: (file suffix, bytes)} of the shard's other files."""
        return {
            "index_file": (INDEX_SUFFIX, "".join(self._index).encode("utf-8")),
            "list_file": (LIST_SUFFIX, "".join(self._list).encode("utf-8")),
        }


def fields(payload, schema=None):
    """({role: value}, issues) of one image record: its label (one, and a
    whole number, as we write it) and its image bytes."""
    try:
        header, image = unpack_header(payload)
    except ValueError as e:
        return {}, [("bad_record", f"not an image record ({e})")]
    if header.flag != 0:
        return {"image": image}, [("bad_header", f"the header holds {header.flag} labels, not one")]
    if not float(header.label).is_integer():
        return {"image": image}, [("bad_header", f"label {header.label} is not a class id")]
    return {"image": image, "label": int(header.label)}, []


FORMAT = RecordFormat(
    name=RECORDIO,
    suffix=SUFFIX,
    side_suffixes={"index_file": INDEX_SUFFIX, "list_file": LIST_SUFFIX},
    shard_writer=ShardWriter,
    iter_records=read_records,
    fields=fields,
    layout=lambda schema=None: {"recordio": LAYOUT},
    has_schema=False,
)
