"""One shard written as a stream: fetch, decode, encode and append each record.

The shard's paths are sorted by their seeded `order` hash and converted a few
at a time (converting.py), and every record is appended to the shard's file
as soon as it is encoded: peak memory depends on the number of threads, not
on the size of the shard or the dataset. A shard appears under its final name
only when complete (`Storage.open_atomic`); writing it again gives the same
bytes.

Free of Beam: the DoFn in shard_writer.py calls `ShardStreamWriter.write` in
its own process or hands the shard to a shard-writing process
(shard_processes.py), which runs the same code.
"""

import dataclasses
import hashlib

from transforms import metrics
from transforms import resume
from transforms import stopping
from transforms.converting import Converter
from transforms.converting import DecodedImage
from transforms.converting import Failure
from transforms.duplicates import ImageHashes
from transforms.hashing import HashingWriter
from transforms.imaging import ELONGATED
from transforms.imaging import ELONGATED_ASPECT_RATIO
from transforms.imaging import aspect_ratio
from transforms.imaging import smaller_than_requested
from transforms.layout import ShardInfo
from transforms.layout import shard_name
from transforms.paths import join
from transforms.progress_records import ShardProgress
from transforms.statistics import Statistics


@dataclasses.dataclass(frozen=True)
class ShardImage:
    """What writing needs of one planned image (split.Placed carries more)."""

    order: int
    relative_path: str
    path: str
    label: str


def shard_images(placed):
    """The ShardImages of split.Placed images: plain data, cheap to send to
    another process."""
    return [ShardImage(image.order, image.relative_path, image.path, image.label) for image in placed]


def _in_shard_order(image):
    return image.order, image.relative_path


@dataclasses.dataclass(frozen=True)
class Written:
    """What writing one shard produced."""

    failures: list  # (path, Failure)
    info: ShardInfo
    reused: bool = False  # Completed by an interrupted run, verified, kept.
    # duplicates.ImageHashes of every record written, in shard order.
    hashes: tuple = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShardSettings:
    """Everything a shard's bytes and place depend on, besides its images.

    `fingerprint`: the run's settings as text, the resume key's base (None:
    keep no resume records); `reuse`: reuse shards an interrupted attempt
    completed with the same key (resume.py)."""

    output: str
    record_format: object  # formats.RecordFormat
    schema: object  # schema.Schema
    image_settings: object  # imaging.ImageSettings
    s3_client_settings: object
    fingerprint: str = None
    reuse: bool = False


class ShardStreamWriter:
    """Writes shards one after another (several threads may share one)."""

    def __init__(self, shard_settings, concurrency, extra_connections=0):
        self._shard_settings = shard_settings
        self._converter = Converter(
            shard_settings.image_settings, shard_settings.s3_client_settings, concurrency, extra_connections
        )
        self.storage = self._converter.storage
        self._names = None

    def close(self):
        self._converter.close()

    def write(self, shard, class_names):
        """Writes `shard`, ((split, index, count), [ShardImage]); returns Written."""
        (split, index, num_shards), images = shard
        shard_settings = self._shard_settings
        name = shard_name(split, index, num_shards, shard_settings.record_format.suffix)
        progress = ShardProgress(self.storage, shard_settings.output, name, len(images))
        key = None
        if shard_settings.fingerprint is not None:
            key = resume.shard_key(shard_settings.fingerprint, class_names, images)
            reused = shard_settings.reuse and self._reusable(name, key)
            if reused:
                info, failures, hashes = reused
                progress.finish()
                metrics.add_finished(len(images))  # Its images are done: the line counts them.
                return Written(
                    [(path, Failure(*rest)) for path, *rest in failures],
                    info,
                    reused=True,
                    hashes=tuple(ImageHashes(*row) for row in hashes),
                )
        per_class, failures, small, odd, hashes = {}, [], [], {}, []
        statistics = Statistics()
        label_ids = {label: i for i, label in enumerate(class_names)}
        with self.storage.open_atomic(join(shard_settings.output, name)) as sink:
            hashing = HashingWriter(sink)
            records = shard_settings.record_format.shard_writer(hashing, label_ids, shard_settings.schema)
            for image, result in self._converter.convert(sorted(images, key=_in_shard_order), lambda i: i.path):
                stopping.check()  # Ctrl-C: the unfinished file is dropped now, not at the shard's end.
                progress.advance()  # Converted or failed: this image's outcome is known.
                if isinstance(result, Failure):
                    failures.append((image.path, result))
                    continue
                records.write(DecodedImage(image.label, image.relative_path, result))
                statistics.add_image(
                    result.histogram, (result.source_width, result.source_height), (result.width, result.height)
                )
                hashes.append(ImageHashes.of(image, split, result))
                per_class[image.label] = per_class.get(image.label, 0) + 1
                if smaller_than_requested(result.width, result.height, shard_settings.image_settings):
                    small.append(min(result.width, result.height))
                if result.content:
                    odd.setdefault(result.content, []).append(image.relative_path)
                if aspect_ratio(result.source_width, result.source_height) > ELONGATED_ASPECT_RATIO:
                    odd.setdefault(ELONGATED, []).append(image.relative_path)
                metrics.add_finished(1)
        side_files, side_hashes = self._write_side_files(records, split, index, num_shards)
        info = ShardInfo(
            split=split,
            index=index,
            num_shards=num_shards,
            file=name,
            num_examples=sum(per_class.values()),
            num_bytes=hashing.num_bytes,
            sha256=hashing.hexdigest(),
            per_class=dict(sorted(per_class.items())),
            side_files=side_files or None,
            smaller_than_requested=len(small),
            smallest_side=min(small, default=None),
            odd_content=odd or None,
            statistics=statistics.to_json() if statistics.images else None,
        )
        if key is not None:
            rows = [(path, f.stage, f.reason, f.message) for path, f in failures]
            resume.record(self.storage, shard_settings.output, key, info, rows, side_hashes, hashes)
        progress.finish()
        return Written(failures, info, hashes=tuple(hashes))

    def _reusable(self, name, key):
        if self._names is None:  # What an earlier attempt left: listed once per writer.
            self._names = set(self.storage.list_folder(self._shard_settings.output))
        return resume.reusable(self.storage, self._shard_settings.output, name, key, self._names)

    def _write_side_files(self, records, split, index, num_shards):
        side_files, side_hashes = {}, {}
        for role, (suffix, data) in records.side_files().items():
            side_files[role] = shard_name(split, index, num_shards, suffix)
            side_hashes[side_files[role]] = hashlib.sha256(data).hexdigest()
            with self.storage.open_atomic(join(self._shard_settings.output, side_files[role])) as sink:
                sink.write(data)
        return side_files, side_hashes
