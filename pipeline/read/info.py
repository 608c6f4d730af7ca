"""dataset_info.json for the readers: finding it, its splits and shards, and
the one error a training script sees when the dataset cannot be reached.

Everything a reader does starts here: the converter writes dataset_info.json
last, with each split's shards, their record counts and sha256, the record
format and schema, the class names and the image settings. A folder without
it is not a finished dataset, and is refused.
"""

import dataclasses
import json
import os

import botocore.exceptions

from transforms import formats
from transforms import schema as schemas
from transforms.layout import DATASET_INFO_FILE
from transforms.paths import join
from transforms.storage import Storage
from transforms.storage import s3_error_code


class CorruptShardError(ValueError):
    """A shard whose bytes do not match what dataset_info.json says of it."""


class DatasetUnreadableError(OSError):
    """The dataset cannot be reached: no credentials, a refused request, an
    endpoint that does not answer. The message says which, and what to pass."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """One shard of a split, as dataset_info.json lists it, with its full path."""

    path: str
    num_examples: int
    sha256: str


def storage(s3, streams=0):
    """The Storage a reader uses: one per reader (and per DataLoader worker
    process), so one connection pool; a connection per shard read at once,
    else Storage's usual pool of 10."""
    return Storage(dict(s3 or {}), max_connections=max(10, streams))


def load_info(prefix, s3=None):
    """The dataset_info.json of the dataset at `prefix` (a folder or s3:// prefix)."""
    return reader_info(storage(s3), os.fspath(prefix))


def read_info(storage, prefix):
    """dataset_info.json at `prefix`, read with a `transforms.storage.Storage`.

    FileNotFoundError when there is none; S3 errors other than a missing key
    are raised as they come (the commands turn them into their own lines)."""
    path = join(prefix, DATASET_INFO_FILE)
    try:
        data = storage.read(path)
    except (FileNotFoundError, botocore.exceptions.ClientError) as e:
        if not _is_missing(e):
            raise
        raise FileNotFoundError(
            f"not an im2tfrecord dataset (no {DATASET_INFO_FILE}): {prefix} (the converter "
            f"writes it last: without it the dataset is incomplete or being written)"
        ) from None
    return json.loads(data.decode("utf-8"))


def reader_info(storage, prefix):
    """read_info for the readers a training script calls: a dataset that
    cannot be reached is one DatasetUnreadableError saying why, not a
    botocore traceback."""
    path = join(prefix, DATASET_INFO_FILE)
    try:
        return read_info(storage, prefix)
    except botocore.exceptions.NoCredentialsError:
        raise DatasetUnreadableError(
            f"cannot read {path}: no S3 credentials found; pass s3={{'aws_access_key_id': ..., "
            "'aws_secret_access_key': ...} or set up the AWS credential chain"
        ) from None
    except botocore.exceptions.EndpointConnectionError as e:
        raise DatasetUnreadableError(f"cannot read {path}: the S3 endpoint does not answer ({e})") from None
    except botocore.exceptions.ClientError as e:
        code = s3_error_code(e) or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise DatasetUnreadableError(f"cannot read {path}: S3 refused it ({code})") from None


def num_examples(info, split="train"):
    """Records in `split` of a dataset_info.json dict."""
    return split_entry(info, split)["num_examples"]


def channel_stats(info, split="train", scale=255):
    """(mean, std) per channel of the pixels of `split`, as lists, on the
    0-255 scale (`scale=255`) or the 0-1 scale (`scale=1`): what
    dataset_info.json's statistics say (of the pixels its `pixels_counted`
    names: docs/formats.md, "Statistics"; transforms/statistics.py).
    Normalise with them: `(image - mean) / std`, in the scale of `image`."""
    entry = split_entry(info, split)
    statistics = entry.get("statistics")
    if statistics is None and not entry["num_examples"]:
        raise ValueError(f"split {split!r} holds no image: it has no statistics")
    if statistics is None:
        raise ValueError(
            f"dataset_info.json has no statistics for {split!r}: the dataset was written by --writer beam "
            "or by an older version of im2tfrecord"
        )
    if scale == 255:
        return statistics["mean"], statistics["std"]
    if scale == 1:
        return statistics["mean_0_1"], statistics["std_0_1"]
    raise ValueError(f"scale must be 255 or 1, got {scale!r}")


def split_entry(info, split):
    splits = info["splits"]
    if split not in splits:
        raise ValueError(f"the dataset has no split {split!r}; it has {', '.join(sorted(splits))}")
    return splits[split]


def shards(info, prefix, split):
    """The split's shards, in order, with full paths."""
    return [
        Shard(join(prefix, shard["file"]), shard["num_examples"], shard["sha256"])
        for shard in split_entry(info, split)["shards"]
    ]


def format_and_schema(info):
    """The dataset's RecordFormat, and its schema (None where records have no feature keys)."""
    record_format = formats.get(info.get("format", formats.TFRECORD))
    return record_format, (info.get("schema", schemas.DEFAULT_SCHEMA) if record_format.has_schema else None)


def fixed_size(info):
    """(height, width) shared by every image, or None when sizes vary.

    Only --resize_mode exact gives every image one size: the other modes keep
    the aspect ratio and never upscale, center_crop included.
    """
    image = info["image"]
    return (image["size"], image["size"]) if image["resize_mode"] == "exact" else None


def color_mode(info):
    """Pillow's mode for the stored pixels: 'L' for --color grayscale, else 'RGB'."""
    return "L" if info["image"]["color"] == "grayscale" else "RGB"


def _is_missing(error):
    if isinstance(error, botocore.exceptions.ClientError):
        return s3_error_code(error) in ("NoSuchKey", "404")
    return isinstance(error, FileNotFoundError)
