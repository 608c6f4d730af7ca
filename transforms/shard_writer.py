"""The default writer: fetch, decode, encode and write each shard as a stream.

Why not Beam's WriteToTFRecord (`--writer beam`, write.py): its shard of an
element depends on bundle order, so two runs give different files; it
writes each shard as all images of one class and then the next (labels in
runs, bad for training); and its GroupByKey holds every encoded image in
memory. Here the plan (shard.py) fixes every image's shard and place from
seeded hashes before any pixel is read, so the bytes are the same on every
runner, classes are dealt over the shards and mixed inside each, and a
worker holds one shard's paths, not its images. TFDS's BeamWriter does the
same in kind: it groups examples by shard and writes each shard once, from
one worker, to a temporary file renamed into place.

The shuffle before this stage moved only paths. Each shard is written as one
stream (shard_stream.py): records appended as they are encoded, memory bounded
by the threads, the file under its final name only when complete; a retried
bundle rewrites the same bytes. Each worker writes two shards at once
(`_SHARDS_AT_ONCE`), so the cores do not idle while one shard's last images
finish. With `Concurrency.processes` above 1 (the local runner's default),
shards of at least `Concurrency.min_images_per_process` images are written
by that many processes of their own instead (shard_processes.py), each with
its own GIL.

What a shard's files hold is its record format's business (transforms/formats/),
chosen once per run: TFRecord (one file of tf.train.Example) or RecordIO (the
records, then their .idx and .lst, each file atomic).
"""

import collections
import concurrent.futures
import logging
import os
import socket

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms import metrics
from transforms import progress_records
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.shard_processes import ShardProcesses
from transforms.shard_stream import ShardStreamWriter
from transforms.shard_stream import shard_images
from transforms.storage import Storage
from transforms.storage import configure_beam_filesystems

SHARDS = "shards"  # Tag of the output that describes each written shard.
HASHES = "hashes"  # Tag of the output of each record's duplicates.ImageHashes.
# Names the worker in the log line of each shard it writes; this project's
# cluster scripts set it for each TaskManager and Spark worker.
WORKER_NAME_VARIABLE = "IM2TFRECORD_WORKER"

_LOG = logging.getLogger(__name__)

# Shards each worker writes at once in its own process. With one, the cores
# idle while a shard's last images finish; two share the decode slots and
# keep them full.
_SHARDS_AT_ONCE = 2
# The smallest shard that --processes 0 (auto) writes in shard processes:
# about 2 s of one core's work on 256 px photos. A process takes about
# half a second to start (a fresh interpreter importing Pillow and NumPy),
# and on 2 cores the worker's own threads were as fast (Pillow decodes and
# resizes without the GIL), so processes pay off on big shards and many cores.
AUTO_MIN_IMAGES_PER_PROCESS = 500


class _WriteShard(beam.DoFn):
    def __init__(self, shard_settings, concurrency):
        self._shard_settings = shard_settings
        self._concurrency = concurrency

    def setup(self):
        configure_beam_filesystems(self._shard_settings.s3_client_settings)
        self._writer = ShardStreamWriter(self._shard_settings, self._concurrency, _SHARDS_AT_ONCE)
        self._shards = concurrent.futures.ThreadPoolExecutor(_SHARDS_AT_ONCE, thread_name_prefix="shard")
        self._processes = None  # Started for the first shard worth it.
        self._written = Metrics.counter(metrics.METRICS_NAMESPACE, "written")
        # A shard's paths are one group this worker holds (shard.MAX_SHARD_IMAGES bounds it).
        self._shard_sizes = Metrics.distribution(
            metrics.METRICS_NAMESPACE, metrics.group_size_name("PlanShards/GroupShard")
        )

    def teardown(self):
        self._shards.shutdown(wait=True)
        if self._processes is not None:
            self._processes.close()
        self._writer.close()

    def start_bundle(self):
        self._running = collections.deque()

    def process(self, shard, class_names, planned_images=None):
        # planned_images is not used: see WriteShardStreams' `planned`.
        key, placed = shard
        self._shard_sizes.update(len(placed))
        # The writer's one input type, in threads or in processes: the plain
        # ShardImage rows, not the planning's Placed (which carry more).
        shard = (key, shard_images(placed))
        if self._in_processes(key, placed):
            if self._processes is None:
                self._processes = ShardProcesses(self._shard_settings, self._concurrency)
            for written in self._processes.write(shard, class_names):
                yield from self._outputs(written)
            return
        self._running.append(self._shards.submit(self._writer.write, shard, class_names))
        while self._running and (len(self._running) > _SHARDS_AT_ONCE or self._running[0].done()):
            yield from self._outputs(self._running.popleft().result())

    def _in_processes(self, key, placed):
        """Whether a shard goes to the shard processes. Each decodes one image
        at a time, so with --processes 0 (auto) a split of fewer shards than
        processes stays in the worker's threads, which use every core on one
        shard (one 591-image shard took twice as long in a process)."""
        concurrency = self._concurrency
        if concurrency.processes <= 1 or len(placed) < concurrency.min_images_per_process:
            return False
        _, _, shards_in_split = key
        return not concurrency.min_images_per_process or shards_in_split >= concurrency.processes

    def finish_bundle(self):
        finished = [future.result() for future in self._running]
        self._running.clear()
        if self._processes is not None:
            finished += self._processes.finish()
        for written in finished:
            for output in self._outputs(written):
                tag, value = (output.tag, output.value) if isinstance(output, TaggedOutput) else (None, output)
                windowed = WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])
                yield TaggedOutput(tag, windowed) if tag else windowed

    def _outputs(self, written):
        """Error rows, counters and the ShardInfo of a shard now in place; only
        then, so a retried bundle does not repeat them. Beam's metrics belong
        to the bundle's thread: no shard thread or process touches them."""
        for path, failure in written.failures:
            yield error_row(path, failure.stage, failure.reason, failure.message)
        for label, count in written.info.per_class.items():
            Metrics.counter(metrics.METRICS_NAMESPACE, f"class/{label}").inc(count)
        self._written.inc(written.info.num_examples)
        _LOG.info("wrote %s (%d images) on %s", written.info.file, written.info.num_examples, worker_name())
        if written.reused:
            Metrics.counter(metrics.METRICS_NAMESPACE, metrics.REUSED_SHARDS).inc()
            Metrics.counter(metrics.METRICS_NAMESPACE, metrics.REUSED_IMAGES).inc(written.info.num_examples)
        for hashes in written.hashes:
            yield TaggedOutput(HASHES, hashes)
        yield TaggedOutput(SHARDS, written.info)


class WriteShardStreams(beam.PTransform):
    """((split, index, count), [Placed]) -> ShardInfo on SHARDS, error rows on
    ERRORS, each record's duplicates.ImageHashes on HASHES. Leaves a progress
    record of each shard in the output as it goes (progress_records.py).

    `shard_settings` (shard_stream.ShardSettings) is everything a shard's
    bytes and place depend on besides its images: with its `fingerprint`
    (the run's settings, as text), each shard leaves a resume record; with
    `reuse` too, shards an interrupted attempt completed with the same
    settings and images are reused (resume.py).

    `planned`, RecordPlannedImages' output, is taken as a side input only so
    that the planned total is in the output before any shard is written:
    Spark runs a branch nothing consumes after the rest of the job, and a
    launcher's progress line then had no total until the end."""

    def __init__(self, *, shard_settings, class_names, concurrency, planned=None):
        super().__init__()
        self._shard_settings = shard_settings
        self._class_names = class_names
        self._concurrency = concurrency
        self._planned = planned

    def expand(self, shards):
        side_inputs = [beam.pvalue.AsSingleton(self._class_names)]
        if self._planned is not None:
            side_inputs.append(beam.pvalue.AsSingleton(self._planned))
        return shards | beam.ParDo(_WriteShard(self._shard_settings, self._concurrency), *side_inputs).with_outputs(
            SHARDS, ERRORS, HASHES
        )


class RecordPlannedImages(beam.PTransform):
    """Placed images -> their count, once it is written into `output` for a
    launcher's progress line (progress_records.PLANNED_FILE). Applied to the
    images before PlanShards' grouping: counted there, the total is written
    when planning ends; counted from the grouped shards, Flink wrote it only
    when the writing stage had ended (the partial counts of a bundle leave it
    at its end, and a batch job's bundle is a whole partition)."""

    def __init__(self, output, s3_client_settings):
        super().__init__()
        self._output = output
        self._s3_client_settings = s3_client_settings

    def expand(self, placed):
        return (
            placed
            | "Count" >> beam.combiners.Count.Globally()
            | "Write" >> beam.Map(_record_planned, self._output, self._s3_client_settings)
        )


def _record_planned(images, output, s3_client_settings):
    progress_records.write_planned(Storage(s3_client_settings), output, images)
    return images


def worker_name():
    """Which worker this is, for the log: on a cluster, where each shard was
    written (runners/*/cluster.sh name their daemons; elsewhere the host and
    process)."""
    return os.environ.get(WORKER_NAME_VARIABLE) or f"{socket.gethostname()} pid {os.getpid()}"
