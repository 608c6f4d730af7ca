"""Reading a converted dataset back, for training code: tf.data or plain Python.

Why a reader of our own: TensorFlow 2.21 has no s3:// filesystem (it moved
out to tensorflow-io), so a training job on SageMaker or EMR cannot point
`tf.data.TFRecordDataset` at shards on S3. Here each S3 shard is streamed
through the converter's own S3 client, which resumes a broken body with a
ranged GET instead of starting over.

Everything starts from dataset_info.json, which the converter writes last:
each split's shards with their record counts and sha256, the record schema,
the class names (label N is `info["labels"][N]`) and the image settings. A
folder without it is not a finished dataset, and is refused.

  load_info(prefix)               the dataset_info.json document, as a dict
  read_info(storage, prefix)      the same, through a Storage a tool already has
  num_examples(info, split)       records in a split, e.g. for steps_per_epoch
  channel_stats(info, split)      per-channel (mean, std) of its pixels
  tf_dataset(prefix, split)       tf.data.Dataset of (uint8 [H, W, C], int64 label)
  iter_examples(prefix, split)    iterator of (numpy uint8 HxWxC, int label)

C is 3 for --color rgb, 1 for grayscale. `iter_examples` needs no TensorFlow
(Pillow decodes) and reads either --format (through its adapter in
transforms/formats/); `tf_dataset` reads TFRecord datasets, needs tensorflow
installed (the converter does not depend on it) and imports it only when
called. Importing this module loads no Apache Beam: a training job pays for
boto3, numpy and Pillow only.

Checks: every record's crc32c, always. Shards streamed by this module (all of
`iter_examples`, and S3 shards in `tf_dataset`) are also checked at their end
against dataset_info.json: record count and sha256 (hashing runs at 1.5 GB/s,
far ahead of decoding). A failed check raises `CorruptShardError` naming the
shard, once the records before the damage have been yielded; an S3 error
raises OSError naming it. Local shards in `tf_dataset` are read by
`tf.data.TFRecordDataset`, which keeps Python and its lock out of the loop:
damage there is a `tf.errors.DataLossError` without the file name, which
`iter_examples` on the same prefix finds.

    from pipeline import read

    info = read.load_info("s3://bucket/shards")
    train = read.tf_dataset("s3://bucket/shards", "train", image_size=224,
                            shuffle_buffer=10_000, seed=1)
    model.fit(train.batch(64).prefetch(tf.data.AUTOTUNE),
              steps_per_epoch=read.num_examples(info, "train") // 64)

`s3=` takes boto3 client arguments as `transforms.storage.s3_settings` builds
them ({"endpoint_url": ..., "region_name": ..., "aws_access_key_id": ...}),
or None for boto3's own credential chain (the instance role on SageMaker or
EMR, the environment, a profile).
"""

import collections
import io
import itertools
import json
import os
import random

import botocore.exceptions
import numpy as np
from PIL import Image

from transforms import formats
from transforms import schema as schemas
from transforms.hashing import HashingReader
from transforms.layout import DATASET_INFO_FILE
from transforms.storage import Storage
from transforms.storage import is_s3
from transforms.storage import join
from transforms.storage import s3_error_code

# Shards read at once by tf_dataset. S3 reads mostly wait on the network, so
# more streams than cores overlap the waits; TFDS interleaves 16 files too.
_PARALLEL_READS = 16

# S3 bodies are read in large pieces: every read of the raw HTTP stream costs
# a Python call through urllib3, and records are read a header at a time.
_READ_BUFFER_BYTES = 1024 * 1024

# Records handed from Python to tf.data per call: crossing into Python costs
# about 0.3 ms, so 10,000 records one at a time took 2.9 s, in 64s 0.1 s.
_RECORDS_PER_CHUNK = 64


class CorruptShardError(ValueError):
    """A shard whose bytes do not match what dataset_info.json says of it."""


class DatasetUnreadableError(OSError):
    """The dataset cannot be reached: no credentials, a refused request, an
    endpoint that does not answer. The message says which, and what to pass."""


def load_info(prefix, s3=None):
    """The dataset_info.json of the dataset at `prefix` (a folder or s3:// prefix)."""
    return _reader_info(_storage(s3), os.fspath(prefix))


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


def _reader_info(storage, prefix):
    """read_info for the readers a training script calls: a dataset that
    cannot be reached is one DatasetUnreadableError saying why, not a
    botocore traceback."""
    path = join(prefix, DATASET_INFO_FILE)
    try:
        return read_info(storage, prefix)
    except botocore.exceptions.NoCredentialsError:
        raise DatasetUnreadableError(
            f"cannot read {path}: no S3 credentials found; pass s3={{'aws_access_key_id': ..., "
            "'aws_secret_access_key': ...}} or set up the AWS credential chain"
        ) from None
    except botocore.exceptions.EndpointConnectionError as e:
        raise DatasetUnreadableError(f"cannot read {path}: the S3 endpoint does not answer ({e})") from None
    except botocore.exceptions.ClientError as e:
        code = s3_error_code(e) or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise DatasetUnreadableError(f"cannot read {path}: S3 refused it ({code})") from None


def num_examples(info, split="train"):
    """Records in `split` of a dataset_info.json dict."""
    return _split(info, split)["num_examples"]


def channel_stats(info, split="train", scale=255):
    """(mean, std) per channel of the pixels of `split`, as lists, on the
    0-255 scale (`scale=255`) or the 0-1 scale (`scale=1`): what
    dataset_info.json's statistics say (of the pixels its `pixels_counted`
    names: README, "Statistics"; transforms/statistics.py).
    Normalise with them: `(image - mean) / std`, in the scale of `image`."""
    entry = _split(info, split)
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


def iter_examples(prefix, split="train", s3=None, decode=True, shuffle_buffer=0, seed=None, as_supervised=True):
    """Iterates over the records of `split` as (image, label) pairs.

    image: numpy uint8 array HxWxC, decoded by Pillow, or the encoded bytes
    (JPEG or PNG) with decode=False; label: int. Shards are read one after
    another, in order unless `shuffle_buffer` > 0: then the shard order is
    shuffled, and records pass through a buffer of that many, as tf.data's
    shuffle does (1 shuffles only the shard order). `seed` makes it repeat.
    With as_supervised=False each item is a dict: image, label, class_name
    and filename (the path below --input; None for --schema simple).
    dataset_info.json is read by this call, so a missing dataset raises
    FileNotFoundError here rather than at the first next().
    """
    prefix, storage = os.fspath(prefix), _storage(s3)
    info = _reader_info(storage, prefix)
    shards = _shards(info, prefix, split)
    record_format, schema = _format_and_schema(info)
    mode = "L" if info["image"]["color"] == "grayscale" else "RGB"
    labels = info["labels"]
    rng = random.Random(seed)
    if shuffle_buffer > 0:
        rng.shuffle(shards)

    def examples():
        records = ((shard, record) for shard in shards for record in _stream_records(storage, shard, record_format))
        if shuffle_buffer > 0:
            records = _shuffled(records, shuffle_buffer, rng)
        for shard, record in records:
            values, issues = record_format.fields(record, schema)
            if issues:
                raise CorruptShardError(f"{shard.path}: {issues[0][1]}")
            image = _decode(values["image"], mode) if decode else values["image"]
            label = values["label"]
            if as_supervised:
                yield image, label
            else:
                filename = values.get("filename")
                yield {
                    "image": image,
                    "label": label,
                    "class_name": labels[label],
                    "filename": filename.decode("utf-8") if filename is not None else None,
                }

    return examples()


def tf_dataset(
    prefix,
    split="train",
    s3=None,
    image_size=None,
    shuffle_buffer=0,
    seed=None,
    num_parallel_reads=_PARALLEL_READS,
    deterministic=True,
):
    """A `tf.data.Dataset` of (image, label) of `split`; needs tensorflow.

    image: uint8 [H, W, C], with a static shape when every image has the same
    size (--resize_mode exact) or `image_size` is given; label: int64 scalar.
    `num_parallel_reads` shards are read at once and their records
    interleaved. image_size (int or (height, width)) stretches every image to
    that size with `tf.image.resize` (antialiased bilinear), still uint8.
    shuffle_buffer > 0 shuffles the shard order, then records through a
    buffer of that many (reshuffled every epoch); with `seed` the order
    repeats from run to run. deterministic=False lets records of ready
    shards overtake a slow one, at the cost of a varying order. Unbatched:
    add .batch() and .prefetch().
    """
    import tensorflow as tf  # Only here: the converter and its workers never need it.

    prefix = os.fspath(prefix)
    storage = _storage(s3, streams=num_parallel_reads)
    info = _reader_info(storage, prefix)
    record_format, schema = _format_and_schema(info)
    if record_format.name != formats.TFRECORD:
        raise ValueError(
            f"tf_dataset reads tfrecord datasets; this one is {record_format.name}: "
            "read it with iter_examples, or with MXNet/SageMaker"
        )
    shards = {shard.path: shard for shard in _shards(info, prefix, split)}
    image_key, label_key = schemas.KEYS[schema]["image"], schemas.KEYS[schema]["label"]
    spec = {
        key: tf.io.FixedLenFeature([], tf.string if info["features"][key] == "bytes" else tf.int64)
        for key in (image_key, label_key)
    }
    channels = 1 if info["image"]["color"] == "grayscale" else 3
    stored_shape = [*(_fixed_size(info) or (None, None)), channels]
    resize_to = (image_size, image_size) if isinstance(image_size, int) else image_size

    def stream_chunks(path):
        records = _stream_records(storage, shards[path.decode("utf-8")], record_format)
        yield from iter(lambda: list(itertools.islice(records, _RECORDS_PER_CHUNK)), [])

    def read_shard(path):
        if not is_s3(prefix):  # TensorFlow opens these itself, faster.
            return tf.data.TFRecordDataset(path, buffer_size=_READ_BUFFER_BYTES)
        return tf.data.Dataset.from_generator(
            stream_chunks, args=(path,), output_signature=tf.TensorSpec([None], tf.string)
        ).unbatch()

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        encoded = features[image_key]
        # TensorFlow decodes JPEG with libjpeg's fast, inexact IDCT unless
        # told otherwise: on 256 px photos its pixels differed from Pillow's
        # by 1.25 levels on average. The accurate one gives Pillow's pixels,
        # the ones iter_examples yields and --statistics stored counts.
        image = tf.cond(
            tf.io.is_jpeg(encoded),
            lambda: tf.io.decode_jpeg(encoded, channels=channels, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(encoded, channels=channels, expand_animations=False),
        )
        image = tf.ensure_shape(image, stored_shape)
        if resize_to:
            resized = tf.round(tf.image.resize(image, resize_to, antialias=True))
            image = tf.ensure_shape(tf.saturate_cast(resized, tf.uint8), [*resize_to, channels])
        return image, features[label_key]

    files = tf.data.Dataset.from_tensor_slices(tf.constant(list(shards), dtype=tf.string))
    if shuffle_buffer > 0:
        files = files.shuffle(len(shards), seed=seed)
    records = files.interleave(
        read_shard,
        cycle_length=max(1, min(num_parallel_reads, len(shards))),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    if shuffle_buffer > 0:
        records = records.shuffle(shuffle_buffer, seed=seed)
    return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


_Shard = collections.namedtuple("_Shard", "path num_examples sha256")


def _storage(s3, streams=0):
    # A connection per shard read at once, else Storage's usual pool of 10.
    return Storage(dict(s3 or {}), max_connections=max(10, streams))


def _is_missing(error):
    if isinstance(error, botocore.exceptions.ClientError):
        return s3_error_code(error) in ("NoSuchKey", "404")
    return isinstance(error, FileNotFoundError)


def _split(info, split):
    splits = info["splits"]
    if split not in splits:
        raise ValueError(f"the dataset has no split {split!r}; it has {', '.join(sorted(splits))}")
    return splits[split]


def _shards(info, prefix, split):
    """The split's shards, in order, as `_Shard`s with full paths."""
    return [
        _Shard(join(prefix, shard["file"]), shard["num_examples"], shard["sha256"])
        for shard in _split(info, split)["shards"]
    ]


def _format_and_schema(info):
    """The dataset's RecordFormat, and its schema (None where records have no feature keys)."""
    record_format = formats.get(info.get("format", formats.TFRECORD))
    return record_format, (info.get("schema", schemas.DEFAULT_SCHEMA) if record_format.has_schema else None)


def _fixed_size(info):
    """(height, width) shared by every image, or None when sizes vary.

    Only --resize_mode exact gives every image one size: the other modes keep
    the aspect ratio and never upscale, center_crop included.
    """
    image = info["image"]
    return (image["size"], image["size"]) if image["resize_mode"] == "exact" else None


def _stream_records(storage, shard, record_format):
    """Yields the records of one shard; checks count and sha256 at its end."""
    hashing = HashingReader(storage.open_read(shard.path))
    count = 0
    try:
        with io.BufferedReader(hashing, _READ_BUFFER_BYTES) as stream:
            for record in record_format.iter_records(stream):
                count += 1
                yield record
    except ValueError as e:  # iter_records: a corrupt or truncated record.
        raise CorruptShardError(f"{shard.path}: {e}") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise OSError(f"{shard.path}: {e}") from e  # S3's errors do not name the object.
    if count != shard.num_examples:
        raise CorruptShardError(f"{shard.path}: {count} records, but {DATASET_INFO_FILE} says {shard.num_examples}")
    if hashing.hexdigest() != shard.sha256:
        raise CorruptShardError(
            f"{shard.path}: sha256 {hashing.hexdigest()} differs from {DATASET_INFO_FILE}'s "
            f"{shard.sha256}: the file changed after the dataset was written"
        )


def _shuffled(items, buffer_size, rng):
    """Items in random order, through a buffer of `buffer_size`, like tf.data's shuffle."""
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        index = rng.randrange(buffer_size)
        yield buffer[index]
        buffer[index] = item
    rng.shuffle(buffer)
    yield from buffer


def _decode(encoded, mode):
    with Image.open(io.BytesIO(encoded)) as image:
        pixels = np.asarray(image.convert(mode))
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels
