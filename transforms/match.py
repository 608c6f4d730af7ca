"""Stage 1: match every file under `--input` and keep those with image extensions.

Matching goes through Beam's `fileio.MatchFiles` (its `MatchAll` half, after a
step that hands Beam's filesystems our S3 settings on workers that got no
pipeline options), so any Beam filesystem works
(`s3://`, local paths). Files with other extensions (`.DS_Store`, `README.txt`,
folder markers) are counted as skipped, not silently dropped, so that
matched = written + failed + skipped holds at the end of a run.
"""

import posixpath

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import progress
from transforms.errors import METRICS_NAMESPACE
from transforms.storage import configure_beam_filesystems

SKIPPED = "skipped"  # Tag of the output of files without an image extension.
IMAGE_EXTENSIONS = frozenset((".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"))


def input_pattern(input_root):
    """The glob that matches every file below `input_root`, at any depth."""
    return FileSystems.join(input_root.rstrip("/"), "**")


def has_image_extension(path):
    return posixpath.splitext(path)[1].lower() in IMAGE_EXTENSIONS


class _ConfigureFileSystems(beam.DoFn):
    """Runs before MatchAll in the same worker: see `configure_beam_filesystems`."""

    def __init__(self, s3_client_settings):
        self._s3_client_settings = s3_client_settings

    def setup(self):
        configure_beam_filesystems(self._s3_client_settings)

    def process(self, pattern):
        yield pattern


class _KeepImages(beam.DoFn):

    def setup(self):
        self._matched = Metrics.counter(METRICS_NAMESPACE, "matched")
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "skipped")

    def process(self, metadata):
        self._matched.inc()
        progress.add_matched(1)
        if has_image_extension(metadata.path):
            yield metadata.path
        else:
            self._skipped.inc()
            progress.add_finished(1)
            yield beam.pvalue.TaggedOutput(SKIPPED, metadata.path)


class MatchImages(beam.PTransform):
    """PBegin -> {"images": image paths under `input_root`, SKIPPED: other paths}."""

    def __init__(self, input_root, s3_client_settings):
        super().__init__()
        self._input_root = input_root
        self._s3_client_settings = s3_client_settings

    def expand(self, pbegin):
        matched = (
            pbegin
            | "Pattern" >> beam.Create([input_pattern(self._input_root)])
            | "ConfigureFileSystems" >> beam.ParDo(_ConfigureFileSystems(self._s3_client_settings))
            | "MatchFiles" >> fileio.MatchAll(EmptyMatchTreatment.ALLOW_IF_WILDCARD)
            | "KeepImages" >> beam.ParDo(_KeepImages()).with_outputs(SKIPPED, main="images"))
        # One listing emits every path from a single bundle; spread the work
        # that follows over all workers.
        return {"images": matched.images | "Spread" >> beam.Reshuffle(), SKIPPED: matched[SKIPPED]}
