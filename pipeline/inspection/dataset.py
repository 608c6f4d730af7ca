"""What a dataset's dataset_info.json says, as `im2tfrecord inspect` checks it.

One parse of the document up front, so the checks work on named fields
(shards in dataset order, the record spec of its schema) and a document
that is not ours, a TFDS one say, is turned away with one clear line before
any shard is read.
"""

import dataclasses

from pipeline.inspection.records import RecordSpec
from transforms import formats
from transforms.layout import TEST
from transforms.layout import TRAIN
from transforms.layout import VALIDATION
from transforms.schema import DEFAULT_SCHEMA
from transforms.schema import SCHEMAS

_SPLIT_ORDER = (TRAIN, VALIDATION, TEST)
_INFO = "dataset_info.json"


class NotADataset(ValueError):
    """dataset_info.json is not one of ours: the message says what is wrong."""


@dataclasses.dataclass(frozen=True)
class Shard:
    split: str
    position: int  # in its split's list of shards, from 0
    file: str
    num_examples: int
    num_bytes: int
    sha256: str
    side_files: tuple = ()  # RecordIO's .idx and .lst


@dataclasses.dataclass(frozen=True)
class Dataset:
    prefix: str
    info: dict
    labels: tuple
    splits: dict  # split name -> tuple of Shard, of the splits being inspected, in split order

    @property
    def format(self):
        return self.info.get("format", formats.TFRECORD)

    @property
    def record_format(self):
        return formats.get(self.format)

    def shards(self):
        """Every inspected shard, in dataset order: split order, then position."""
        return [shard for shards in self.splits.values() for shard in shards]

    def record_spec(self):
        record_format = self.record_format
        schema = self.info.get("schema", DEFAULT_SCHEMA) if record_format.has_schema else None
        return RecordSpec(record_format, schema, self.labels)


def split_order(names):
    """train, validation, test, then any other split (from folders) by name."""
    return sorted(names, key=lambda n: (_SPLIT_ORDER.index(n) if n in _SPLIT_ORDER else 3, n))


def describe(prefix, info, only_splits=None):
    """The Dataset of a dataset_info.json document. Raises NotADataset for a
    document that is not ours (a TFDS one, say), KeyError for an unknown split."""
    try:
        labels = tuple(str(name) for name in info["labels"])
        splits = {name: tuple(_shards(name, info["splits"][name])) for name in split_order(info["splits"])}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise NotADataset(f"its {_INFO} is not an im2tfrecord one (no usable {e} in it)") from None
    data_format, schema = info.get("format", formats.TFRECORD), info.get("schema", DEFAULT_SCHEMA)
    if data_format not in formats.NAMES:
        raise NotADataset(f"its {_INFO} names format {data_format!r}, not one of {formats.NAMES}")
    if formats.get(data_format).has_schema and schema not in SCHEMAS:
        raise NotADataset(f"its {_INFO} names schema {schema!r}, not one of {SCHEMAS}")
    for name in only_splits or ():
        if name not in splits:
            raise KeyError(name)
    if only_splits:
        splits = {name: shards for name, shards in splits.items() if name in only_splits}
    return Dataset(prefix, info, labels, splits)


def _shards(split, entry):
    for position, shard in enumerate(entry["shards"]):
        yield Shard(
            split,
            position,
            shard["file"],
            int(shard["num_examples"]),
            int(shard["num_bytes"]),
            shard.get("sha256"),
            tuple(side_files(shard)),
        )


def side_files(shard):
    """The files that go with a shard entry's records (RecordIO's .idx and
    .lst): every format's side-file roles that the entry names."""
    roles = {role for name in formats.NAMES for role in formats.get(name).side_suffixes}
    return [shard[role] for role in sorted(roles) if role in shard]
