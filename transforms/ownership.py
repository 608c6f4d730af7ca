"""Which files in --output are ours to replace: never a file the tool did not write.

A file named like a shard (`train-00000-of-00003.tfrecord`) is not ours just
because of its name: a user may keep shards made by another tool there. A
file is provably ours when

- a complete dataset's dataset_info.json names it (its shards and their side
  files, labels.txt, errors.jsonl and dataset_info.json itself), or
- a run marker is there: every run writes `.im2tfrecord-run.json` into the
  output before anything else and removes it after dataset_info.json, so a
  marker without dataset_info.json means a run of ours was killed there, and
  every dataset-named file beside it is that run's, or
- it is one of our hidden temporaries (`.<name>.inprogress-<32 hex>`).

The marker lists the files that were ours when the run started, so the run's
last step removes only those (and its own temporaries), never a file that
appeared later or that it cannot account for.
"""

import dataclasses
import json
import sys

from apache_beam.io.filesystems import FileSystems

from transforms.layout import DATASET_INFO_FILE
from transforms.layout import DUPLICATES_FILE
from transforms.layout import ERRORS_FILE
from transforms.layout import LABELS_FILE
from transforms.layout import is_dataset_file
from transforms.storage import UploadsNotListed
from transforms.storage import is_temporary
from transforms.storage import list_multipart_uploads
from transforms.storage import split_s3_path
from transforms.storage import uploads_not_listed_note

RUN_MARKER_FILE = ".im2tfrecord-run.json"
_TOOL_NAME = "im2tfrecord"


@dataclasses.dataclass(frozen=True)
class OutputSurvey:
    """What is in --output before a run: `complete` if it holds a finished
    dataset of ours; `owned`, the dataset-named files that are provably ours;
    `foreign`, those that only look like ours."""

    complete: bool
    owned: tuple
    foreign: tuple
    # A run marker is there: a run of ours was killed. Its dataset may even be
    # complete (a Flink job goes on after its launcher is killed), but the
    # run never got to say so: a rerun replaces it, without --overwrite.
    killed_run: bool = False


def survey(storage, output):
    names = storage.list_folder(output)
    dataset_named = [name for name in names if is_dataset_file(name)]
    listed = _files_named_by_info(storage, output) if DATASET_INFO_FILE in names else None
    if RUN_MARKER_FILE in names:
        owned = set(dataset_named)
    elif listed is not None:
        owned = {name for name in dataset_named if name in listed or is_temporary(name)}
    else:
        owned = {name for name in dataset_named if is_temporary(name)}
    killed_run = RUN_MARKER_FILE in names
    return OutputSurvey(
        complete=listed is not None and not killed_run,
        owned=tuple(sorted(owned)),
        foreign=tuple(name for name in dataset_named if name not in owned),
        killed_run=killed_run,
    )


def _files_named_by_info(storage, output):
    """The files a dataset_info.json of ours names, or None if it is not ours."""
    try:
        info = json.loads(storage.read(FileSystems.join(output, DATASET_INFO_FILE)))
    except ValueError:
        return None
    if not isinstance(info, dict) or info.get("tool", {}).get("name") != _TOOL_NAME:
        return None
    names = {LABELS_FILE, ERRORS_FILE, DATASET_INFO_FILE}
    if "duplicates" in info:
        names.add(info["duplicates"].get("file", DUPLICATES_FILE))
    for split in info.get("splits", {}).values():
        for shard in split.get("shards", []):
            names.update(value for key, value in shard.items() if key == "file" or key.endswith("_file"))
    return names


def write_marker(storage, output, owned):
    """Claims --output for a run: written before anything else."""
    body = {"tool": _TOOL_NAME, "owned": sorted(owned)}
    storage.write(
        FileSystems.join(output, RUN_MARKER_FILE), (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
    )


def files_to_replace(storage, output, names):
    """Of `names` (the output's files now), those the run may remove if it
    did not write them: what its marker says was ours when it started, and
    our temporaries."""
    owned = set()
    if RUN_MARKER_FILE in names:  # No marker: a pipeline built without the CLI.
        owned = set(json.loads(storage.read(FileSystems.join(output, RUN_MARKER_FILE)))["owned"])
    return {name for name in names if name in owned or is_temporary(name)}


def abort_leftover_uploads(storage, output, note=True):
    """Aborts the S3 multipart uploads of shards a killed run of ours, or a
    worker that died mid-shard, left (SIGKILL gives open_atomic no chance
    to): invisible, but billed until aborted. Only uploads of dataset-named
    keys directly under `output`.

    A store that does not list multipart uploads gets a note on stderr (with
    `note`), and the run goes on: the uploads, if any, cannot be found to be
    aborted."""
    bucket, prefix = split_s3_path(output.rstrip("/") + "/")
    client = storage.s3_client()
    try:
        uploads = list_multipart_uploads(client, bucket, prefix)
    except UploadsNotListed as e:
        if not note:
            return
        consequence = f"any that a killed run left under {output.rstrip('/')}/ are not aborted"
        print(uploads_not_listed_note(e.code, consequence), file=sys.stderr)
        return
    for key, upload_id in uploads:
        name = key[len(prefix) :]
        if "/" not in name and is_dataset_file(name):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def remove_marker(storage, output):
    storage.delete([FileSystems.join(output, RUN_MARKER_FILE)])
