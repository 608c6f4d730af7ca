"""Checks made before any work, so that a wrong invocation fails in seconds
with one clear line instead of minutes into a job.

The option values on their own were checked when they were parsed
(`ConvertOptions.validate`); these checks look at what they name: the
input, the output, the labels file, the cluster. Every check raises
`UsageError` with a message fit to print as is; none of the messages may
contain credentials.
"""

import dataclasses
import io
import json
import os
import re
import socket
import urllib.request

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.options.pipeline_options import PortableOptions
from apache_beam.options.pipeline_options import SparkRunnerOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.portability import common_urns

from pipeline import command
from pipeline.command import UsageError
from pipeline.command import s3_call
from pipeline.convert import earlier_jobs
from pipeline.convert.options import ConvertOptions
from transforms import listing
from transforms import manifest
from transforms import ownership
from transforms import paths
from transforms import storage
from transforms.label import parse_labels_file
from transforms.match import input_pattern
from transforms.paths import has_scheme


@dataclasses.dataclass(frozen=True)
class Checked:
    """What the checks found. `output`: the survey of --output (which of its
    files are ours to replace). `refusal`: with --plan, which writes nothing,
    why a real run would refuse this --output (None if it would not)."""

    output: ownership.OutputSurvey
    refusal: str = None


def check(options):
    """Runs every check on options that passed `ConvertOptions.validate`;
    raises UsageError on the first that fails. Returns `Checked`."""
    convert = options.view_as(ConvertOptions)  # Its values are valid: see ConvertOptions.validate.
    _check_output_place(convert)
    # One client for every check, built only when a path is on S3.
    store = storage.Storage(storage.s3_settings(options), max_attempts=command.PREFLIGHT_S3_ATTEMPTS)
    _check_runner(options)
    if convert.manifest:
        _check_manifest(convert, store)
    else:
        _check_input(convert.input, store)
    if convert.splits_from_folders:
        listed = store.list_children(convert.input)
        if listed is not None:  # With --splits_from_folders, the top folders are the splits.
            convert.check_named_splits([folder.rstrip("/").rsplit("/", 1)[-1] for folder in listed[1]])
    if convert.labels_file:  # Before --output is created: a refused run leaves nothing.
        _check_readable(convert.labels_file, "--labels_file", store)
        try:
            parse_labels_file(store.read(convert.labels_file).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"--labels_file {convert.labels_file}: {e}") from None
    _check_output(convert.output, store, create=not convert.plan)
    found = _survey_output(convert, store)
    refusal = _output_refusal(convert, found)
    if refusal and not convert.plan:
        raise UsageError(refusal)
    return Checked(found, refusal)


def _check_output_place(convert):
    """--output must be a folder, and not one the input listing would read."""
    output, source = convert.output.rstrip("/"), convert.input.rstrip("/")
    if not paths.is_s3(output) and os.path.isfile(output):
        raise UsageError(f"--output {convert.output} is a file; name a folder")
    if convert.manifest:  # Nothing is listed: only the manifest's rows are read.
        return
    if paths.is_s3(output) == paths.is_s3(source):
        if not paths.is_s3(output):
            # Resolved, so a link to a folder inside the input is inside it too.
            output, source = os.path.realpath(output), os.path.realpath(source)
        if output == source or output.startswith(source + "/"):
            raise UsageError(
                f"--output {convert.output} is inside --input {convert.input}: its "
                "files would be read as images next time; choose a folder outside it"
            )


# What Beam's WriteToTFRecord deletes in --output before finalizing (--writer beam).
_BEAM_SHARD_GLOB = re.compile(r"^[^/]+-.*-of-\d{5}\.tfrecord$")

# Runner names Beam resolves (its create_runner takes the class name, any
# case, with or without "Runner"; a dotted path names a class of one's own).
_RUNNER_NAMES = frozenset(path.rsplit(".", 1)[-1].lower() for path in StandardOptions.ALL_KNOWN_RUNNERS)

# Enough of a CSV manifest to hold its header line.
_HEADER_BYTES = 64 * 1024

# How long a cluster's address may take to answer before the run is refused.
_CLUSTER_TIMEOUT_S = 5


def _check_runner(options):
    """A Flink or Spark master that does not answer, a worker environment
    Beam does not know, or a streaming job asked for, is found now rather
    than a minute into the job."""
    environment = options.view_as(PortableOptions).environment_type
    if environment and not (
        environment == "LOOPBACK"
        or environment.startswith("beam:env:")
        or hasattr(common_urns.environments, environment)
    ):
        raise UsageError(
            f"--environment_type {environment!r} is not one Beam knows: use PROCESS, LOOPBACK, EXTERNAL or DOCKER"
        )
    if options.view_as(StandardOptions).streaming:
        raise UsageError("--streaming: a conversion is a batch job (it reads its input once); leave the flag out")
    runner = (options.view_as(StandardOptions).runner or "").lower()
    if runner and "." not in runner and not {runner, runner + "runner"} & _RUNNER_NAMES:
        raise UsageError(
            f"--runner {options.view_as(StandardOptions).runner!r} is not a Beam runner: "
            "leave it out to run here, or use FlinkRunner, SparkRunner, PortableRunner, ..."
        )
    if earlier_jobs.on_flink(options):  # Not [auto], [local]: Beam starts Flink itself.
        master = options.view_as(FlinkRunnerOptions).flink_master
        try:
            url = earlier_jobs.rest_base(master) + "/config"
            with urllib.request.urlopen(url, timeout=_CLUSTER_TIMEOUT_S) as answer:
                json.load(answer)["flink-version"]
        except (OSError, ValueError, KeyError) as e:
            raise UsageError(
                f"--flink_master {master}: no Flink REST API answers there ({e}); is the cluster running?"
            ) from None
    elif runner in ("sparkrunner", "spark"):
        master = options.view_as(SparkRunnerOptions).spark_master_url
        if master.startswith("spark://"):
            host, _, port = master[len("spark://") :].partition(":")
            try:
                socket.create_connection((host, int(port or 7077)), timeout=_CLUSTER_TIMEOUT_S).close()
            except (OSError, ValueError) as e:
                raise UsageError(
                    f"--spark_master_url {master}: no Spark master answers there ({e}); is the cluster running?"
                ) from None


def _survey_output(convert, store):
    """Which files of --output are a dataset's, and whose. With --writer beam,
    every <split>-*-of-NNNNN.tfrecord not provably ours counts as foreign:
    Beam's sink removes them all before it finalizes, a wider pattern than
    our shard names."""
    found = ownership.survey(store, convert.output)
    if convert.writer != "beam":
        return found
    owned = set(found.owned)
    return dataclasses.replace(
        found,
        foreign=found.foreign
        + tuple(
            name
            for name in store.list_folder(convert.output)
            if _BEAM_SHARD_GLOB.match(name) and name not in owned and name not in found.foreign
        ),
    )


def _output_refusal(convert, found):
    """Why a run must not write into this --output, or None. Files that look
    like a dataset's but that no run of ours provably wrote are never
    touched, with or without --overwrite; a complete dataset is replaced only
    with --overwrite. What a killed run of ours left (its run marker is still
    there) is replaced, even a dataset that its Flink job finished after the
    launcher was killed."""
    if found.foreign:
        return (
            f"--output {convert.output} holds files named like a dataset's that no run "
            f"of im2tfrecord marked as its own ({_some(found.foreign)}); nothing was "
            "changed: move them away or choose another --output (parts of a run copied here? "
            "copy their hidden .im2tfrecord-* files too)"
        )
    if found.complete and convert.write_part is not None:
        return f"--output {convert.output} already holds a dataset ({_some(found.owned)}): give a part a fresh --output"
    if found.complete and not convert.overwrite:
        return (
            f"--output {convert.output} already holds a dataset ({_some(found.owned)}); pass --overwrite to replace it"
        )
    return None


def _some(names):
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _check_input(path, store):
    if paths.is_s3(path):
        bucket, prefix = storage.split_s3_path(path.rstrip("/") + "/")
        client = store.s3_client()
        command.check_bucket(client, bucket, "--input")
        first = s3_call(lambda: client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1), "--input", bucket)
        empty = first.get("KeyCount", 0) == 0
    elif not has_scheme(path):
        if not os.path.exists(path):
            raise UsageError(f"--input {path} does not exist")
        empty = not listing.has_files(path)
    else:
        try:
            empty = not FileSystems.match([input_pattern(path)], limits=[1])[0].metadata_list
        except Exception:  # Beam raises when the folder itself is missing.
            empty = True
    if empty:
        raise UsageError(f"--input {path} holds no files (expected <label>/<image> files below it)")
    listed = store.list_children(path)
    if listed is not None and listed[0] and not listed[1]:
        raise UsageError(
            f"--input {path} holds files but no folders: an image's class is the "
            "folder it is in, so point --input at the folder above the class folders"
        )


def _check_output(path, store, create=True):
    if paths.is_s3(path):
        bucket, _ = storage.split_s3_path(path.rstrip("/") + "/")
        command.check_bucket(store.s3_client(), bucket, "--output")
        return
    if not create:  # --plan writes nothing, not even the folder.
        return
    try:
        FileSystems.mkdirs(path)
    except IOError as e:
        if not FileSystems.exists(path):
            raise UsageError(f"--output {path} cannot be created: {e}") from None


def _check_manifest(convert, store):
    """The manifest exists and starts as its kind does (a CSV's header names
    its columns, JSON lines start with an object), and --input is a folder:
    a wrong file is refused now, not as a million error rows. A per-split
    --num_shards is checked against the splits the manifest names (which
    costs one more read of it)."""
    _check_readable(convert.manifest, "--manifest", store)
    if not has_scheme(convert.input) and not os.path.isdir(convert.input):
        raise UsageError(f"--input {convert.input} is not a folder (the manifest's relative paths start there)")
    kind = manifest.manifest_kind(convert.manifest)
    with store.open_read(convert.manifest) as raw:
        start = raw.read(_HEADER_BYTES).decode("utf-8-sig", errors="replace")
    try:
        manifest.check_start(start, kind)
    except ValueError as e:
        raise UsageError(f"--manifest {convert.manifest}: {e}") from None
    if convert.num_shards and "=" in convert.num_shards:
        with store.open_read(convert.manifest) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
            named, unnamed = manifest.named_splits(text, kind, convert.manifest_label_key)
        convert.check_named_splits(sorted(named | (set(convert.ratio_splits()) if unnamed else set())))


def _check_readable(path, flag, store):
    if paths.is_s3(path):
        bucket, key = storage.split_s3_path(path)
        s3_call(
            lambda: store.s3_client().head_object(Bucket=bucket, Key=key),
            flag,
            bucket,
            missing=f"{flag} {path} does not exist",
        )
    elif not FileSystems.exists(path):
        raise UsageError(f"{flag} {path} does not exist")
    elif os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a folder; name a file")
