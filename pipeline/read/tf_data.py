"""`tf_dataset`: a split as a tf.data.Dataset, one worker's shards of it.

Local shards are read by `tf.data.TFRecordDataset`, which keeps Python and
its lock out of the loop. S3 shards are streamed by the converter's own S3
client (TensorFlow 2.21 has no s3:// filesystem; it moved out to
tensorflow-io), each by a thread, and their records interleaved in Python
in the order tf.data's interleave gives local shards, handed to tf.data in
chunks (pipeline/read/stream.py, records_interleaved).

On several workers the shards are chosen here, before tf.data sees them,
and TensorFlow's own auto-sharding is turned off on the result: it cannot
split a Python generator by file, and would fall back to keeping every Nth
record of every shard on every worker.
"""

import itertools
import os

from pipeline.read import info as infos
from pipeline.read import stream
from pipeline.read import workers
from transforms import formats
from transforms import schema as schemas
from transforms.paths import is_s3

# Shards read at once. S3 reads mostly wait on the network, so more streams
# than cores overlap the waits; TFDS interleaves 16 files too.
PARALLEL_READS = 16

# Records handed from Python to tf.data per call: crossing into Python costs
# about 0.3 ms, so 10,000 records one at a time took 2.9 s, in 64s 0.1 s.
_RECORDS_PER_CHUNK = 64


def tf_dataset(
    prefix,
    split="train",
    s3=None,
    image_size=None,
    shuffle_buffer=0,
    seed=None,
    num_parallel_reads=PARALLEL_READS,
    deterministic=True,
    *,
    input_context=None,
    worker_index=None,
    num_workers=None,
    even=False,
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

    On several workers this worker reads its own whole shards: its place
    comes from `worker_index` and `num_workers`, else `input_context` (the
    tf.distribute.InputContext that `distribute_datasets_from_function`
    passes), else TF_CONFIG (MultiWorkerMirroredStrategy's cluster), else it
    reads everything. `even=True` stops every worker at the smallest
    worker's record count (pipeline/read/workers.py).
    """
    import tensorflow as tf  # Only here: the converter and its workers never need it.

    prefix = os.fspath(prefix)
    storage = infos.storage(s3, streams=num_parallel_reads)
    info = infos.reader_info(storage, prefix)
    record_format, schema = infos.format_and_schema(info)
    if record_format.name != formats.TFRECORD:
        raise ValueError(
            f"tf_dataset reads tfrecord datasets; this one is {record_format.name}: "
            "read it with iter_examples, or with MXNet/SageMaker"
        )
    place = _place(input_context, worker_index, num_workers)
    mine = workers.worker_shards(infos.shards(info, prefix, split), place, even, split)
    shards = {shard.path: shard for shard in mine.shards}
    image_key, label_key = schemas.KEYS[schema]["image"], schemas.KEYS[schema]["label"]
    spec = {
        key: tf.io.FixedLenFeature([], tf.string if info["features"][key] == "bytes" else tf.int64)
        for key in (image_key, label_key)
    }
    channels = 1 if infos.color_mode(info) == "L" else 3
    stored_shape = [*(infos.fixed_size(info) or (None, None)), channels]
    resize_to = (image_size, image_size) if isinstance(image_size, int) else image_size

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

    cycle_length = max(1, min(num_parallel_reads, len(shards)))
    epochs = itertools.count()

    def shard_order():
        """This epoch's shard order (called again for every iteration of the
        dataset): shuffled by seed and epoch, in Python for local and S3
        shards alike, so that one dataset gives one order from either."""
        order = list(shards.values())
        if shuffle_buffer > 0:
            stream.epoch_rng(seed, next(epochs)).shuffle(order)
        return order

    if is_s3(prefix):

        def chunks():
            records = stream.records_interleaved(storage, shard_order(), record_format, cycle_length, deterministic)
            yield from iter(lambda: list(itertools.islice(records, _RECORDS_PER_CHUNK)), [])

        records = tf.data.Dataset.from_generator(chunks, output_signature=tf.TensorSpec([None], tf.string)).unbatch()
    else:  # TensorFlow opens local files itself, faster.
        files = tf.data.Dataset.from_generator(
            lambda: (shard.path for shard in shard_order()), output_signature=tf.TensorSpec([], tf.string)
        )
        records = files.interleave(
            lambda path: tf.data.TFRecordDataset(path, buffer_size=stream.READ_BUFFER_BYTES),
            cycle_length=cycle_length,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic,
        )
    if shuffle_buffer > 0:
        records = records.shuffle(shuffle_buffer, seed=seed)
    if even:
        records = records.take(mine.records)
    dataset = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if place.count > 1:  # The shards are this worker's already: no second cut by TensorFlow.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        dataset = dataset.with_options(options)
    return dataset


def _place(input_context, worker_index, num_workers):
    place = workers.given_place(worker_index, num_workers)
    if place is None and input_context is not None:
        place = workers.WorkerPlace(input_context.input_pipeline_id, input_context.num_input_pipelines)
    return place or workers.tf_config_place() or workers.ALONE
