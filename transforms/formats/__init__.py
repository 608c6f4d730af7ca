"""The record formats, one adapter each: everything about a format lives in its module.

  tfrecord.py   tf.train.Example records in .tfrecord shards (the default)
  recordio.py   MXNet RecordIO: a .rec with its .idx and .lst per shard

A `RecordFormat` says what the writer, the reader and `inspect` need: the
suffix of the records file and of the files beside it, how a shard's
records are written and read back, and what one record holds (its fields by
role, as transforms/schema.py names them). Code outside this package asks
`get(name)` and never tests for a format by name.
"""

import dataclasses
import typing

TFRECORD = "tfrecord"
RECORDIO = "recordio"
NAMES = (TFRECORD, RECORDIO)


@dataclasses.dataclass(frozen=True)
class RecordFormat:
    """One record format.

    shard_writer(sink, label_ids, schema): an object whose `write(DecodedImage)`
      appends a record to `sink`, and whose `side_files()` then gives
      {role in dataset_info.json: (suffix, bytes)} of the files beside it.
    iter_records(stream): the payloads of a binary stream, one at a time;
      ValueError naming the byte offset where the framing breaks.
    fields(payload, schema): ({role: value}, [(reason, message)]) of one
      payload: the roles its format and schema hold (image, label, ...), and
      what is wrong with it (`inspect` reports those).
    layout(schema): what dataset_info.json says of the records, for readers.
    """

    name: str
    suffix: str
    side_suffixes: dict  # role in dataset_info.json -> suffix
    shard_writer: typing.Callable
    iter_records: typing.Callable
    fields: typing.Callable
    layout: typing.Callable
    has_schema: bool  # whether --schema applies (feature keys)

    def __reduce__(self):
        # Pickled as its name: a format holds functions that plain pickle
        # (multiprocessing's, see shard_processes.py) cannot carry.
        return get, (self.name,)


def get(name):
    """The RecordFormat called `name` (dataset_info.json's "format")."""
    from transforms.formats import recordio
    from transforms.formats import tfrecord

    formats = {TFRECORD: tfrecord.FORMAT, RECORDIO: recordio.FORMAT}
    if name not in formats:
        raise ValueError(f"unknown record format {name!r}: one of {', '.join(NAMES)}")
    return formats[name]


def all_suffixes():
    """Every suffix of every format's files: what makes a name a shard's."""
    return tuple(suffix for name in NAMES for suffix in (get(name).suffix, *get(name).side_suffixes.values()))


def read_exactly(stream, size):
    """Up to `size` bytes: fewer only at the end of the stream (a raw S3 or
    socket stream may return less than asked before its end)."""
    chunks, wanted = [], size
    while wanted > 0:
        chunk = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)
