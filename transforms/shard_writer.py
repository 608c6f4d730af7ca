"""The default writer: fetch, decode, encode and write each shard as a stream.

The shuffle before this stage moved only paths. Here each shard's paths are
sorted by their seeded `order` hash and converted a few at a time (`convert_in_order`),
and every record is appended to the shard's file as soon as it is encoded: peak
memory depends on the number of threads, not on the size of the shard or the
dataset. Each worker writes two shards at once (`_SHARDS_AT_ONCE`), so the
cores do not idle while one shard's last images finish. A shard appears under its final name only when complete
(`Storage.open_atomic`); a retried bundle rewrites the same bytes.

What a shard's files hold is its record format's business (transforms/formats/),
chosen once per run: TFRecord (one file of tf.train.Example) or RecordIO (the
records, then their .idx and .lst, each file atomic).
"""

import collections
import concurrent.futures
import dataclasses
import hashlib

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms import metrics
from transforms import resume
from transforms.decode import ConvertingDoFn
from transforms.decode import DecodedImage
from transforms.decode import Failure
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.hashing import HashingWriter
from transforms.imaging import smaller_than_requested
from transforms.layout import ShardInfo
from transforms.layout import shard_name
from transforms.storage import join

SHARDS = "shards"  # Tag of the output that describes each written shard.


def _in_shard_order(image):
    return image.order, image.relative_path


# Shards each worker writes at once. With one, the cores idle while a shard's
# last images finish; two share the decode slots and keep them full.
_SHARDS_AT_ONCE = 2


@dataclasses.dataclass(frozen=True)
class _Written:
    """What writing one shard produced, handed back to the bundle's thread."""

    failures: list  # (path, Failure)
    info: ShardInfo
    reused: bool = False  # Completed by an interrupted run, verified, kept.


class _WriteShard(ConvertingDoFn):
    extra_connections = _SHARDS_AT_ONCE

    def __init__(
        self, output, record_format, schema, settings, s3_client_settings, concurrency, fingerprint=None, reuse=False
    ):
        super().__init__(settings, s3_client_settings, concurrency)
        self._output = output
        self._format = record_format
        self._schema = schema
        self._fingerprint = fingerprint  # None: keep no resume records.
        self._reuse = reuse
        self._names = None

    def setup(self):
        super().setup()
        self._shards = concurrent.futures.ThreadPoolExecutor(_SHARDS_AT_ONCE, thread_name_prefix="shard")
        self._written = Metrics.counter(metrics.METRICS_NAMESPACE, "written")

    def teardown(self):
        self._shards.shutdown(wait=True)
        super().teardown()

    def start_bundle(self):
        self._running = collections.deque()

    def process(self, shard, class_names):
        self._running.append(self._shards.submit(self._write, shard, class_names))
        while self._running and (len(self._running) > _SHARDS_AT_ONCE or self._running[0].done()):
            yield from self._outputs(self._running.popleft().result())

    def finish_bundle(self):
        while self._running:
            for output in self._outputs(self._running.popleft().result()):
                tag, value = (output.tag, output.value) if isinstance(output, TaggedOutput) else (None, output)
                windowed = WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])
                yield TaggedOutput(tag, windowed) if tag else windowed

    def _write(self, shard, class_names):
        """Writes one shard (in a shard thread): no Beam calls here, since
        Beam's metrics belong to the bundle's thread."""
        (split, index, num_shards), images = shard
        label_ids = {name: i for i, name in enumerate(class_names)}
        name = shard_name(split, index, num_shards, self._format.suffix)
        key = None
        if self._fingerprint is not None:
            key = resume.shard_key(self._fingerprint, class_names, [image.path for image in images])
            if self._reuse:
                if self._names is None:  # What an earlier attempt left: listed once per worker.
                    self._names = set(self._storage.list_folder(self._output))
                reused = resume.reusable(self._storage, self._output, name, key, self._names)
                if reused:
                    info, failures = reused
                    return _Written([(path, Failure(*rest)) for path, *rest in failures], info, reused=True)
        per_class, failures, small, odd = {}, [], [], {}
        with self._storage.open_atomic(join(self._output, name)) as sink:
            hashing = HashingWriter(sink)
            records = self._format.shard_writer(hashing, label_ids, self._schema)
            for image, result in self.convert(sorted(images, key=_in_shard_order), lambda image: image.path):
                if isinstance(result, Failure):
                    failures.append((image.path, result))
                    continue
                records.write(DecodedImage(image.label, image.relative_path, result))
                per_class[image.label] = per_class.get(image.label, 0) + 1
                if smaller_than_requested(result.width, result.height, self._settings):
                    small.append(min(result.width, result.height))
                if result.content:
                    odd.setdefault(result.content, []).append(image.relative_path)
                metrics.add_finished(1)
        side_files, side_hashes = {}, {}
        for role, (suffix, data) in records.side_files().items():
            side_files[role] = shard_name(split, index, num_shards, suffix)
            side_hashes[side_files[role]] = hashlib.sha256(data).hexdigest()
            with self._storage.open_atomic(join(self._output, side_files[role])) as sink:
                sink.write(data)
        info = ShardInfo(
            split,
            index,
            num_shards,
            name,
            sum(per_class.values()),
            hashing.num_bytes,
            hashing.hexdigest(),
            dict(sorted(per_class.items())),
            side_files or None,
            len(small),
            min(small, default=None),
            odd or None,
        )
        if key is not None:
            resume.record(
                self._storage,
                self._output,
                key,
                info,
                [(path, f.stage, f.reason, f.message) for path, f in failures],
                side_hashes,
            )
        return _Written(failures, info)

    def _outputs(self, written):
        """Error rows, counters and the ShardInfo of a shard now in place; only
        then, so a retried bundle does not repeat them."""
        for path, failure in written.failures:
            yield error_row(path, failure.stage, failure.reason, failure.message)
        for label, count in written.info.per_class.items():
            Metrics.counter(metrics.METRICS_NAMESPACE, f"class/{label}").inc(count)
        self._written.inc(written.info.num_examples)
        if written.reused:
            Metrics.counter(metrics.METRICS_NAMESPACE, metrics.REUSED_SHARDS).inc()
            Metrics.counter(metrics.METRICS_NAMESPACE, metrics.REUSED_IMAGES).inc(written.info.num_examples)
        yield TaggedOutput(SHARDS, written.info)


class WriteShardStreams(beam.PTransform):
    """((split, index, count), [Placed]) -> ShardInfo on SHARDS, error rows on ERRORS.

    With a `fingerprint` (the run's settings, as text), each shard leaves a
    resume record; with `reuse` too, shards an interrupted attempt completed
    with the same settings and images are reused (resume.py)."""

    def __init__(
        self,
        output,
        class_names,
        record_format,
        schema,
        settings,
        s3_client_settings,
        concurrency,
        fingerprint=None,
        reuse=False,
    ):
        super().__init__()
        self._fingerprint = fingerprint
        self._reuse = reuse
        self._output = output
        self._class_names = class_names
        self._format = record_format
        self._schema = schema
        self._settings = settings
        self._s3_client_settings = s3_client_settings
        self._concurrency = concurrency

    def expand(self, shards):
        return shards | beam.ParDo(
            _WriteShard(
                self._output,
                self._format,
                self._schema,
                self._settings,
                self._s3_client_settings,
                self._concurrency,
                self._fingerprint,
                self._reuse,
            ),
            beam.pvalue.AsSingleton(self._class_names),
        ).with_outputs(SHARDS, ERRORS)
