"""The output folder's layout: file names, and which files are a dataset's.

  <split>-SSSSS-of-NNNNN.tfrecord   shards (train-00000-of-00004.tfrecord, ...)
  labels.txt                        line N = class name of label N
  errors.jsonl                      one row per rejected file
  dataset_info.json                 written last: marks a complete dataset
"""

import dataclasses
import re

from transforms.storage import is_temporary

SHARD_SUFFIX = ".tfrecord"
LABELS_FILE = "labels.txt"
ERRORS_FILE = "errors.jsonl"
DATASET_INFO_FILE = "dataset_info.json"

_SHARD_NAME = re.compile(r"^(?P<split>[A-Za-z0-9][A-Za-z0-9_-]*)-(?P<index>\d{5})-of-(?P<count>\d{5})"
                         + re.escape(SHARD_SUFFIX) + "$")


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """What dataset_info.json says of one shard. `per_class` is None when the
    writer does not know it (`--writer beam`)."""
    split: str
    index: int
    num_shards: int
    file: str
    num_examples: int
    num_bytes: int
    sha256: str
    per_class: dict = None


def shard_name(split, index, num_shards):
    return f"{split}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def parse_shard_name(name):
    """(split, index, num_shards) of a shard file name, or None if it is not one."""
    match = _SHARD_NAME.match(name)
    if not match:
        return None
    return match["split"], int(match["index"]), int(match["count"])


def is_dataset_file(name):
    """True for every file a run of ours writes into --output (and its temporaries)."""
    return (name in (LABELS_FILE, ERRORS_FILE, DATASET_INFO_FILE)
            or parse_shard_name(name) is not None or is_temporary(name))
