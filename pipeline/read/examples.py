"""A worker's examples in plain Python: `iter_examples`, and the loop
`torch_dataset` runs in each DataLoader worker.

No TensorFlow: Pillow decodes. Reads either --format (through its adapter
in transforms/formats/).
"""

import dataclasses
import itertools
import os

from pipeline.read import info as infos
from pipeline.read import stream
from pipeline.read import workers
from transforms.paths import is_s3


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reading:
    """How a worker reads its split: the options `iter_examples` and
    `torch_dataset` share, checked once."""

    split: str = "train"
    decode: bool = True
    shuffle_buffer: int = 0
    seed: object = None
    as_supervised: bool = True
    even: bool = False
    decode_threads: int | None = None

    def __post_init__(self):
        if not isinstance(self.shuffle_buffer, int) or self.shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be a whole number, 0 or more, got {self.shuffle_buffer!r}")
        if self.decode_threads is not None and (not isinstance(self.decode_threads, int) or self.decode_threads < 1):
            raise ValueError(f"decode_threads must be None or a whole number, 1 or more, got {self.decode_threads!r}")


def iter_examples(
    prefix,
    split="train",
    s3=None,
    decode=True,
    shuffle_buffer=0,
    seed=None,
    as_supervised=True,
    *,
    worker_index=None,
    num_workers=None,
    even=False,
    epoch=0,
    decode_threads=None,
):
    """Iterates over the records of `split` as (image, label) pairs.

    image: numpy uint8 array HxWxC, decoded by Pillow, or the encoded bytes
    (JPEG or PNG) with decode=False; label: int. Shards are read one after
    another (the next ones streamed ahead by threads), in order unless
    `shuffle_buffer` > 0: then the shard order is shuffled, and records pass
    through a buffer of that many, as tf.data's shuffle does (1 shuffles only
    the shard order). `seed` makes it repeat; `epoch` gives each epoch its
    own order for one seed. With as_supervised=False each item is a dict:
    image, label, class_name and filename (the path below --input; None for
    --schema simple). Images are decoded by `decode_threads` threads (one per
    core when None), in order.

    On several workers, pass `worker_index` and `num_workers`: this worker
    reads its own whole shards (pipeline/read/workers.py), the same ones for
    every seed and epoch; `even=True` stops every worker at the smallest
    worker's record count, for synchronous training.

    dataset_info.json is read by this call, so a missing dataset raises
    FileNotFoundError here rather than at the first next().
    """
    prefix = os.fspath(prefix)
    storage = infos.storage(s3)
    info = infos.reader_info(storage, prefix)
    reading = Reading(
        split=split,
        decode=decode,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        as_supervised=as_supervised,
        even=even,
        decode_threads=decode_threads,
    )
    place = workers.given_place(worker_index, num_workers) or workers.ALONE
    return worker_examples(storage, info, prefix, reading, place, epoch)


def worker_examples(storage, info, prefix, reading, place, epoch, warn=True):
    """The examples `place` reads of `reading.split` in `epoch`: its shards,
    their records (shuffled and cut as `reading` says), decoded in threads.
    `warn`: whether an uneven split warns here (workers.worker_shards)."""
    shards = infos.shards(info, prefix, reading.split)
    mine = workers.worker_shards(shards, place, reading.even, reading.split, warn=warn)
    record_format, schema = infos.format_and_schema(info)
    mode, labels = infos.color_mode(info), info["labels"]
    rng = stream.epoch_rng(reading.seed, epoch)
    shards = list(mine.shards)
    if reading.shuffle_buffer > 0:
        rng.shuffle(shards)

    def example(shard_and_record):
        shard, record = shard_and_record
        values, issues = record_format.fields(record, schema)
        if issues:
            raise infos.CorruptShardError(f"{shard.path}: {issues[0][1]}")
        image = stream.decode(values["image"], mode) if reading.decode else values["image"]
        label = values["label"]
        if reading.as_supervised:
            return image, label
        filename = values.get("filename")
        return {
            "image": image,
            "label": label,
            "class_name": labels[label],
            "filename": filename.decode("utf-8") if filename is not None else None,
        }

    def examples():
        records = stream.records_read_ahead(storage, shards, record_format, ahead=_ahead(prefix))
        if reading.shuffle_buffer > 0:
            records = stream.shuffled(records, reading.shuffle_buffer, rng)
        if reading.even:
            records = itertools.islice(records, mine.records)
        threads = stream.decode_threads(reading.decode_threads) if reading.decode else 1
        yield from stream.mapped_in_order(example, records, threads)

    return examples()


def _ahead(prefix):
    """Shards streamed ahead: S3 waits on the network, a local disk hardly."""
    return stream.SHARDS_AHEAD if is_s3(prefix) else 0
