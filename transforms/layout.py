"""The output folder's layout: file names, and which files are a dataset's.

  <split>-SSSSS-of-NNNNN.tfrecord   shards, --format tfrecord (the default)
  <split>-SSSSS-of-NNNNN.rec        shards, --format recordio (MXNet RecordIO),
  <split>-SSSSS-of-NNNNN.idx          each with its index (key, byte offset)
  <split>-SSSSS-of-NNNNN.lst          and its image list, as im2rec.py makes them
  labels.txt                        line N = class name of label N
  errors.jsonl                      one row per rejected file
  duplicates.jsonl                  one row per group of identical images
  dataset_info.json                 written last: marks a complete dataset

Every shard file of either format counts as a dataset file, so a run with
--overwrite removes the shards of the other format too. The suffixes are the
formats' own (transforms/formats/).
"""

import dataclasses
import re

from transforms import formats
from transforms.storage import is_temporary

LABELS_FILE = "labels.txt"
ERRORS_FILE = "errors.jsonl"
DUPLICATES_FILE = "duplicates.jsonl"
DATASET_INFO_FILE = "dataset_info.json"

# The splits --validation_ratio and --test_ratio make (a manifest's or the
# folders' --splits_from_folders may name others): the <split> of shard names.
TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)

_SHARD_NAME = re.compile(
    r"^(?P<split>[A-Za-z0-9][A-Za-z0-9_-]*)-(?P<index>\d{5})-of-(?P<count>\d{5})"
    + "(?:"
    + "|".join(re.escape(suffix) for suffix in formats.all_suffixes())
    + ")$"
)


def labels_file_bytes(class_names):
    """labels.txt: line N is the class name of label N."""
    return "".join(name + "\n" for name in class_names).encode("utf-8")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShardInfo:
    """What dataset_info.json says of one shard. `per_class` is None when the
    writer does not know it (`--writer beam`). `file`, `num_bytes` and
    `sha256` describe the records; `side_files` names the files that go with
    them ({"index_file": ..., "list_file": ...} for RecordIO), if any."""

    split: str
    index: int
    num_shards: int
    file: str
    num_examples: int
    num_bytes: int
    sha256: str
    per_class: dict = None
    side_files: dict = None
    # Records stored smaller than --image_size asked (imaging.smaller_than_requested),
    # and the shortest side among them.
    smaller_than_requested: int = 0
    smallest_side: int = None
    # Relative paths of records whose pixels look like no photo, by
    # pixel_checks kind ({"flat": [...], "noise": [...]}), and of those whose
    # source is elongated (imaging.ELONGATED), if any.
    odd_content: dict = None
    # statistics.Statistics.to_json() of the records, if any.
    statistics: dict = None

    def files(self):
        """Every file name of this shard."""
        return [self.file, *(self.side_files or {}).values()]


def shard_name(split, index, num_shards, suffix):
    return f"{split}-{index:05d}-of-{num_shards:05d}{suffix}"


def parse_shard_name(name):
    """(split, index, num_shards) of a shard file name of either format, or
    None if it is not one."""
    match = _SHARD_NAME.match(name)
    if not match:
        return None
    return match["split"], int(match["index"]), int(match["count"])


def is_dataset_file(name):
    """True for every file a run of ours writes into --output (and its temporaries)."""
    return (
        name in (LABELS_FILE, ERRORS_FILE, DUPLICATES_FILE, DATASET_INFO_FILE)
        or parse_shard_name(name) is not None
        or is_temporary(name)
    )
