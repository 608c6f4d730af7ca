"""Match every file under `--input` and keep those with image extensions.

S3 lists a prefix 1,000 keys a request: a million images would take 1,000
requests in a row. So the top level of `--input` is listed first, and each
class folder is listed after a reshuffle, in ranges of its keys
(key_ranges.py): workers list the classes in parallel, and a big class in
pieces (docs/performance.md, "Scale"). Files directly under `--input` go straight on.
Other Beam filesystems' folders are matched by Beam (`fileio.MatchAll`).

A local input is walked instead, by the listing rule of listing.py (symlinks
followed at any depth, loops broken, dangling links reported): the top-level
split would buy nothing on a local disk, and Beam's globs do not follow
symlinked folders.

Files with other extensions (`README.txt`, folder markers) and hidden files
(any part of the path starting with ".") are counted as skipped, dangling
symlinks and symlink loops become error rows: none is silently dropped, so
that matched = written + failed + skipped holds at the end of a run.
"""

import re

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms import key_ranges
from transforms import listing
from transforms import metrics
from transforms import skipped
from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.key_ranges import KeyRange
from transforms.paths import has_scheme
from transforms.paths import is_s3
from transforms.storage import Storage
from transforms.storage import configure_beam_filesystems
from transforms.storage import split_s3_path

SKIPPED = "skipped"  # Tag of the kinds (skipped.kind) of files without an image extension, or hidden.
MATCHED = "matched"  # Tag of the count of every path the listing gave.
STAGE = "match"
# Beam's globs cannot quote, but a one-character class matches that character.
_GLOB_CHARACTER = re.compile(r"([\[?*])")


def input_pattern(input_root):
    """The glob that matches every file below `input_root`, at any depth.

    Folder names are data: a class folder named `what?` or `[x]` must match
    itself, not act as a glob, so glob characters in it are escaped."""
    return FileSystems.join(_GLOB_CHARACTER.sub(r"[\1]", input_root.rstrip("/")), "**")


_TOP_LEVEL = "top_level"  # Tag of the files directly under --input.
_KEY_RANGES = "key_ranges"  # Tag of the S3 KeyRanges still to list (key_ranges.py).
KEY_RANGES_LISTED = "key_ranges_listed"  # Counter: the KeyRanges the listing took.


class _ListTopLevel(beam.DoFn):
    """input root -> a `<folder>/**` pattern per subfolder, and the top-level
    files (on _TOP_LEVEL). Also hands Beam's filesystems our S3 settings in
    this worker (see `configure_beam_filesystems`), before MatchAll needs them."""

    def __init__(self, s3_client_settings):
        self._s3_client_settings = s3_client_settings

    def setup(self):
        configure_beam_filesystems(self._s3_client_settings)
        self._storage = Storage(self._s3_client_settings)

    def process(self, root):
        children = self._storage.list_children(root)
        if children is None:  # A filesystem we cannot list one level of.
            yield input_pattern(root)
            return
        files, folders = children
        for folder in folders:
            if is_s3(folder):
                bucket, prefix = split_s3_path(folder.rstrip("/") + "/")
                yield beam.pvalue.TaggedOutput(_KEY_RANGES, KeyRange(bucket, prefix))
            else:
                yield input_pattern(folder)
        for path in files:
            yield beam.pvalue.TaggedOutput(_TOP_LEVEL, FileMetadata(path, 0))


class _ListKeyRange(beam.DoFn):
    """KeyRange -> the FileMetadata of its keys, listed a page (with `cut`:
    what is left after the page, cut into ranges on _KEY_RANGES) or to its
    end (without). A directory bucket's, which lists out of order, to its end."""

    def __init__(self, s3_client_settings, cut):
        self._s3_client_settings = s3_client_settings
        self._cut = cut

    def setup(self):
        self._storage = Storage(self._s3_client_settings)
        self._listed = Metrics.counter(metrics.METRICS_NAMESPACE, KEY_RANGES_LISTED)

    def process(self, key_range):
        self._listed.inc()
        listed, left = key_ranges.list_round(self._storage.s3_client(), key_range, self._cut)
        for item in listed:
            yield FileMetadata(f"s3://{key_range.bucket}/{item.key}", item.size)
        for piece in left:
            yield beam.pvalue.TaggedOutput(_KEY_RANGES, piece)


class _WalkLocal(beam.DoFn):
    """local input root -> the FileMetadata of every file below it; dangling
    symlinks, symlink loops and unreadable entries on ERRORS."""

    def process(self, root):
        prefix = root.rstrip("/") + "/"
        for path, kind in listing.walk(root):
            relative = path[len(prefix) :]
            hidden = listing.is_hidden(relative)
            if kind == listing.FILE and skipped.is_read(relative) and not listing.is_utf8(path):
                kind = listing.BAD_NAME  # An image it cannot name; a file it skips is only counted.
            path = listing.printable(path)
            # A hidden entry is skipped whatever it is (an editor's lock file
            # is a dangling link): _KeepImages counts it as such.
            if kind == listing.FILE or hidden:
                yield FileMetadata(path, 0)
            else:
                Metrics.counter(metrics.METRICS_NAMESPACE, "matched").inc()
                metrics.add_matched(1)
                yield error_row(path, STAGE, kind, listing.MESSAGES[kind])


class _KeepImages(beam.DoFn):
    def __init__(self, input_root):
        self._root = input_root.rstrip("/") + "/"

    def setup(self):
        self._matched = Metrics.counter(metrics.METRICS_NAMESPACE, "matched")
        self._skipped = Metrics.counter(metrics.METRICS_NAMESPACE, "skipped")

    def process(self, metadata):
        self._matched.inc()
        metrics.add_matched(1)
        relative = metadata.path[len(self._root) :] if metadata.path.startswith(self._root) else metadata.path
        if skipped.is_read(relative):
            yield metadata.path
        else:
            self._skipped.inc()
            metrics.add_finished(1)
            yield beam.pvalue.TaggedOutput(SKIPPED, skipped.kind(relative))


class MatchImages(beam.PTransform):
    """PBegin -> {"images": image paths under `input_root`, SKIPPED: the kind
    of every other path (skipped.kind), ERRORS: error rows of links that
    lead nowhere or in a circle, MATCHED: one number, every path listed}."""

    def __init__(self, input_root, s3_client_settings):
        super().__init__()
        self._input_root = input_root
        self._s3_client_settings = s3_client_settings

    def expand(self, pbegin):
        root = pbegin | "Root" >> beam.Create([self._input_root])
        if has_scheme(self._input_root):  # No symlinks on S3: nothing to report.
            files = self._match_by_folder(root)
            errors = pbegin | "NoListingErrors" >> beam.Create([])
        else:
            walked = root | "WalkLocal" >> beam.ParDo(_WalkLocal()).with_outputs(ERRORS, main="files")
            files, errors = walked.files, walked[ERRORS]
        matched = files | "KeepImages" >> beam.ParDo(_KeepImages(self._input_root)).with_outputs(SKIPPED, main="images")
        # Counted here, as the listing gave them, apart from what later stages
        # report, in one combine (each costs bundles on the local runner).
        # Ones, not a Flatten of the outputs themselves: Beam's Flink job
        # server rejects a pipeline where one PCollection feeds two Flattens.
        count = (
            (
                files | "OnePerFile" >> beam.Map(lambda _: 1),
                errors | "OnePerListingError" >> beam.Map(lambda _: 1),
            )
            | "BothCounts" >> beam.Flatten()
            | "Matched" >> beam.CombineGlobally(sum)
        )
        # One listing emits every path from a single bundle; spread the work
        # that follows over all workers.
        return {
            "images": matched.images | "Spread" >> beam.Reshuffle(),
            SKIPPED: matched[SKIPPED],
            ERRORS: errors,
            MATCHED: count,
        }

    def _match_by_folder(self, root):
        listed = root | "ListTopLevel" >> beam.ParDo(_ListTopLevel(self._s3_client_settings)).with_outputs(
            _TOP_LEVEL, _KEY_RANGES, main="patterns"
        )
        in_folders = (
            listed.patterns
            | "SpreadFolders" >> beam.Reshuffle()
            | "MatchFolders" >> fileio.MatchAll(EmptyMatchTreatment.ALLOW)
        )
        found = [in_folders, listed[_TOP_LEVEL]]
        ranges = listed[_KEY_RANGES]
        # A page of each range, what is left cut into ranges for the next
        # round; the last round lists its ranges to their end.
        for round_ in range(key_ranges.SPLIT_ROUNDS + 1):
            cut = round_ < key_ranges.SPLIT_ROUNDS
            keys = (
                ranges
                | f"SpreadKeyRanges{round_}" >> beam.Reshuffle()
                | f"ListKeyRanges{round_}"
                >> beam.ParDo(_ListKeyRange(self._s3_client_settings, cut)).with_outputs(_KEY_RANGES, main="files")
            )
            found.append(keys.files)
            ranges = keys[_KEY_RANGES]
        return tuple(found) | "AllFiles" >> beam.Flatten()
