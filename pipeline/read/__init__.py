"""Reading a converted dataset back, for training code: tf.data, PyTorch or plain Python.

Why a reader of our own: TensorFlow 2.21 has no s3:// filesystem (it moved
out to tensorflow-io), so a training job on SageMaker or EMR cannot point
`tf.data.TFRecordDataset` at shards on S3. Here each S3 shard is streamed
through the converter's own S3 client, which resumes a broken body with a
ranged GET instead of starting over, the next shards read ahead meanwhile.

Everything starts from dataset_info.json, which the converter writes last:
each split's shards with their record counts and sha256, the record schema,
the class names (label N is `info["labels"][N]`) and the image settings. A
folder without it is not a finished dataset, and is refused.

  load_info(prefix)               the dataset_info.json document, as a dict
  read_info(storage, prefix)      the same, through a Storage a tool already has
  num_examples(info, split)       records in a split, e.g. for steps_per_epoch
  records_per_worker(info, split, num_workers)
                                  records each of N workers reads in an epoch
  channel_stats(info, split)      per-channel (mean, std) of its pixels
  tf_dataset(prefix, split)       tf.data.Dataset of (uint8 [H, W, C], int64 label)
  torch_dataset(prefix, split)    torch IterableDataset of (uint8 tensor [H, W, C], int label)
  iter_examples(prefix, split)    iterator of (numpy uint8 HxWxC, int label)

C is 3 for --color rgb, 1 for grayscale. `iter_examples` and
`torch_dataset` need no TensorFlow (Pillow decodes, in threads) and read
either --format (through its adapter in transforms/formats/); `tf_dataset`
reads TFRecord datasets, needs tensorflow installed (the converter does not
depend on it) and imports it only when called; `torch_dataset` imports torch
only when called. Importing this package loads no Apache Beam: a training
job pays for boto3, numpy and Pillow only.

Several workers (pipeline/read/workers.py): every reader takes the worker's
place (`worker_index`, `num_workers`; or finds it: TensorFlow's
InputContext or TF_CONFIG, PyTorch's DDP rank and DataLoader worker) and
reads its own whole shards, so each record is read once per epoch across
all workers; `even=True` gives every worker the same record count.

Checks: every record's crc32c, always. Shards streamed by this package (all
of `iter_examples` and `torch_dataset`, and S3 shards in `tf_dataset`) are
also checked at their end against dataset_info.json: record count and sha256
(hashing runs at 1.5 GB/s, far ahead of decoding). A failed check raises
`CorruptShardError` naming the shard, once the records before the damage have
been yielded; an S3 error raises OSError naming it. Local shards in
`tf_dataset` are read by `tf.data.TFRecordDataset`, which keeps Python and
its lock out of the loop: damage there is a `tf.errors.DataLossError`
without the file name, which `iter_examples` on the same prefix finds.

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

from pipeline.read import workers as _workers
from pipeline.read.examples import Reading as _Reading
from pipeline.read.examples import iter_examples
from pipeline.read.info import CorruptShardError
from pipeline.read.info import DatasetUnreadableError
from pipeline.read.info import channel_stats
from pipeline.read.info import load_info
from pipeline.read.info import num_examples
from pipeline.read.info import read_info
from pipeline.read.info import shards as _shards
from pipeline.read.tf_data import tf_dataset
from pipeline.read.workers import UnevenSplitWarning
from pipeline.read.workers import WorkerPlace

__all__ = [
    "CorruptShardError",
    "DatasetUnreadableError",
    "UnevenSplitWarning",
    "WorkerPlace",
    "channel_stats",
    "iter_examples",
    "load_info",
    "num_examples",
    "read_info",
    "records_per_worker",
    "tf_dataset",
    "torch_dataset",
]


def records_per_worker(info, split="train", num_workers=1):
    """Records each of `num_workers` workers reads of `split` in an epoch
    (ranks x DataLoader workers for PyTorch): with even=True every worker
    reads min() of them, so steps_per_epoch = min(...) // per-worker batch."""
    return _workers.records_per_worker(_shards(info, "", split), num_workers)


def torch_dataset(
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
    transform=None,
    decode_threads=None,
):
    """A `torch.utils.data.IterableDataset` of `split`; needs torch, not TensorFlow.

    Items as iter_examples' (its options mean the same), the image a uint8
    tensor [H, W, C] (`transform(image)` when given, e.g. to CHW floats).
    Works with DataLoader(num_workers=N) and under DDP: each DataLoader
    worker of each rank reads its own whole shards (`worker_index` and
    `num_workers` name the rank when torch.distributed is not initialised).
    Call `.set_epoch(n)` every epoch for a new shuffle with the same seed.
    In DataLoader workers each decodes in one thread (decode_threads=None).
    """
    from pipeline.read.torch_data import ShardedImageDataset  # Imports torch.

    reading = _Reading(
        split=split,
        decode=decode,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        as_supervised=as_supervised,
        even=even,
        decode_threads=decode_threads,
    )
    place = _workers.given_place(worker_index, num_workers)
    return ShardedImageDataset(prefix, s3=s3, reading=reading, place=place, transform=transform)
