"""`im2tfrecord upload LOCAL_DIR s3://bucket/prefix`: copies an image tree to
S3, where the converter reads it, with the converter's S3 flags.

Files go up many at once, big ones in parts; botocore retries what fails on
the way (it rewinds and resends a body whose connection broke). Objects already
there with the same bytes are skipped, so a rerun uploads only what is missing
and resumes a multipart upload a killed run left: see upload_object.py.

Exit codes, as the converter's: 0 every file uploaded or already there, 1 some
failed (each listed in the report), 2 a wrong invocation (nothing uploaded);
and 130 when stopped with Ctrl-C (rerun to resume).
"""

import concurrent.futures
import fnmatch
import functools
import os
import stat
import sys
import threading
import time

import botocore.exceptions

from pipeline import command
from pipeline import progress
from pipeline.command import UsageError
from pipeline.upload import objects as upload_object
from transforms import listing
from transforms import storage
from transforms.storage import s3_error_code

_PROG = "im2tfrecord upload"
_DESCRIPTION = """\
Copy a local image tree to S3: LOCAL_DIR/<path> becomes s3://BUCKET/PREFIX/<path>.

Files whose object is already there with the same bytes are skipped (judged by
the ETag S3 computes, or else by the SHA-256 each upload stores as metadata
x-amz-meta-sha256), so rerunning the same command uploads only what is missing,
and resumes a big file's multipart upload that an interrupted run left. Other
objects at those keys are replaced; nothing is deleted. Files are listed as the
converter lists them: symlinks to files and folders are followed, a loop or a
dangling link is a failed file, and hidden files and folders (.name) are
counted but left out unless --include_hidden. A progress line goes to stderr; the report, to
stdout, lists every file that failed, with the reason.
"""
_EPILOG = """\
examples:
  im2tfrecord upload ./photos s3://my-bucket/photos
  im2tfrecord upload ./photos s3://my-bucket/photos --dry_run
  im2tfrecord upload ./photos s3://my-bucket/photos --threads 32 --exclude '*.txt'
  im2tfrecord upload ./photos s3://my-bucket/photos \\
      --s3_endpoint_url http://127.0.0.1:9000 --s3_region_name us-east-1
  im2tfrecord --input s3://my-bucket/photos --output s3://my-bucket/shards

exit codes: 0 all uploaded or already there, 1 some files failed, 2 wrong
invocation, 130 interrupted (rerun to resume).
"""

# Enough requests in flight to hide S3's per-request latency on small images.
_DEFAULT_THREADS = 16
# Files above one part go up in parts of this size (see upload_object.py).
_DEFAULT_PART_MB = 16
# Files waiting per upload thread: enough to keep threads busy, while a tree
# of millions of files is never held in memory.
_QUEUED_PER_THREAD = 2
# Errors that every request would get: the run stops instead of listing each file.
_DOOMED_CODES = frozenset(
    {"NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)
_DOOMED_ERRORS = (botocore.exceptions.NoCredentialsError, botocore.exceptions.EndpointConnectionError)
_MB = 1e6


def main(argv):
    """Runs `im2tfrecord upload` with the arguments after `upload`; returns the exit code."""
    return command.main(_PROG, list(argv), _parse_invocation)


def _parse_invocation(argv):
    return command.s3_command(
        _parser(), argv, _check_and_run, failed="upload failed", interrupted="rerun the same command to resume"
    )


def _check_and_run(args, settings):
    return _run(args, settings, *_check(args, settings), tuple(command.secrets_of(settings)))


def _parser():
    parser = command.new_parser(_PROG, "%(prog)s LOCAL_DIR s3://BUCKET[/PREFIX] [options]", _DESCRIPTION, _EPILOG)
    parser.add_argument("local_dir", metavar="LOCAL_DIR", help="The folder to upload.")
    parser.add_argument(
        "destination", metavar="s3://BUCKET[/PREFIX]", help="Where its files go; the bucket must exist."
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=_DEFAULT_THREADS,
        metavar="N",
        help="Files uploading at once, and parts of big files at once (default: %(default)s).",
    )
    parser.add_argument(
        "--part_size_mb",
        type=int,
        default=_DEFAULT_PART_MB,
        metavar="MIB",
        help="Files bigger than this many MiB go up in parts of this size, 5 to 5120 (default: %(default)s).",
    )
    parser.add_argument("--dry_run", action="store_true", help="List what would be uploaded; change nothing.")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="Upload only files whose path below LOCAL_DIR matches; repeatable. "
        "'*' matches across folders: '*.jpg' is every JPEG.",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="Leave out files whose path below LOCAL_DIR matches; repeatable.",
    )
    parser.add_argument(
        "--include_hidden", action="store_true", help="Upload hidden files and folders (.DS_Store, .git) too."
    )
    command.add_log_level_argument(parser)
    command.add_s3_arguments(parser)
    return parser


def _check(args, settings):
    """Pre-flight: (bucket, key prefix), or a UsageError saying what is wrong."""
    if args.threads < 1:
        raise UsageError(f"--threads must be 1 or more, got {args.threads}")
    part_mib = (upload_object.MIN_PART_BYTES >> 20, upload_object.MAX_PART_BYTES >> 20)
    if not part_mib[0] <= args.part_size_mb <= part_mib[1]:
        raise UsageError(
            f"--part_size_mb must be {part_mib[0]} to {part_mib[1]} (S3's part sizes), got {args.part_size_mb}"
        )
    if not os.path.isdir(args.local_dir):
        state = "is not a folder" if os.path.exists(args.local_dir) else "does not exist"
        raise UsageError(f"LOCAL_DIR {args.local_dir} {state}")
    try:
        bucket, prefix = storage.split_s3_path(args.destination)
    except ValueError:
        raise UsageError(f"the destination must be s3://BUCKET[/PREFIX], got {args.destination!r}") from None
    client = storage.make_s3_client(settings, max_connections=1, max_attempts=command.PREFLIGHT_S3_ATTEMPTS)
    command.check_bucket(client, bucket, args.destination)
    return bucket, prefix.rstrip("/")


def _run(args, settings, bucket, prefix, secrets):
    start = time.monotonic()
    # Upload threads and part threads each hold a connection.
    client = storage.make_s3_client(settings, max_connections=2 * args.threads + 1)
    report = _Report(secrets)
    files = functools.partial(_local_files, args.local_dir, args.include_hidden, args.include, args.exclude)
    counts = _Counts()
    uploader = upload_object.Uploader(
        client, bucket, args.part_size_mb << 20, args.threads, on_bytes=counts.add_bytes, dry_run=args.dry_run
    )
    try:
        # Before the progress line starts, so that the note is a line of its own.
        refused = uploader.find_leftovers(f"{prefix}/" if prefix else "")
        if refused:
            print(storage.uploads_not_listed_note(refused, "big files start over instead of resuming"), file=sys.stderr)
        with progress.Progress("uploading", counts.reading):
            threading.Thread(
                target=counts.count_totals, args=(args.local_dir, files()), name="count", daemon=True
            ).start()
            _upload_all(uploader, args.local_dir, prefix, files(), args.threads, report, counts)
    finally:
        uploader.close()
    seconds = time.monotonic() - start
    command.print_report(report.format(f"s3://{bucket}/{prefix}{'/' if prefix else ''}", seconds, args.dry_run))
    return report.exit_code()


# The problem of a hidden file left out: counted in the report, not uploaded.
_HIDDEN = "hidden"


def _local_files(root, include_hidden, includes, excludes):
    """(path below root with '/' separators, problem or None) of each file to
    upload, folder by folder, by the converter's listing rule
    (transforms/listing.py): symlinks followed, loops and dangling links
    reported as problems, hidden files flagged _HIDDEN unless included."""
    if not os.path.isdir(root):
        yield ".", "cannot list the folder: not a folder"
        return
    for full, kind in listing.walk(root):
        path = os.path.relpath(full, root).replace(os.sep, "/")
        if listing.is_hidden(path) and not include_hidden:
            yield path, _HIDDEN
        elif kind != listing.FILE:
            yield listing.printable(path), listing.MESSAGES[kind]
        elif not listing.is_utf8(path):  # No S3 key can name it.
            yield listing.printable(path), listing.MESSAGES[listing.BAD_NAME]
        elif (not includes or any(fnmatch.fnmatchcase(path, glob) for glob in includes)) and not any(
            fnmatch.fnmatchcase(path, glob) for glob in excludes
        ):
            yield path, None


def _with_listings(files, uploader, prefix):
    """(path, problem, listed) of each file, `listed` being the (size, ETag) of
    the object at its key, from one listing per folder: a request for a
    thousand files, not one each. The walk gives a folder's files together,
    so one folder's listing is held at a time."""
    folder, objects = None, None
    for path, problem in files:
        if problem:  # Nothing to compare with: no listing needed.
            yield path, problem, upload_object.NOT_LISTED
            continue
        parent, _, name = path.rpartition("/")
        if parent != folder and not uploader.stop.is_set():  # Stopped: only counted.
            folder = parent
            objects = uploader.list_folder("".join(f"{part}/" for part in (prefix, parent) if part))
        listed = upload_object.NOT_LISTED if objects is None else objects.get(name)
        yield path, problem, listed


def _upload_all(uploader, root, prefix, files, threads, report, counts):
    """Uploads `files` on a pool of `threads`, adding each outcome to `report`."""

    def finish(futures):
        for future in futures:
            report.add(*future.result())
            counts.add_file()

    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="upload") as pool:
        pending = set()
        try:
            for path, problem, listed in _with_listings(files, uploader, prefix):
                if problem == _HIDDEN:
                    report.hidden += 1
                    counts.add_file()
                    continue
                if uploader.stop.is_set():
                    report.not_attempted += 1
                    continue
                if len(pending) >= _QUEUED_PER_THREAD * threads:
                    done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    finish(done)
                key = f"{prefix}/{path}" if prefix else path
                pending.add(pool.submit(_upload_one, uploader, root, path, key, problem, listed, report))
            finish(concurrent.futures.wait(pending).done)
        except KeyboardInterrupt:  # Finish the requests in flight; keep uploads to resume.
            uploader.interrupted.set()
            uploader.stop.set()
            report.interrupted = True
            finish(concurrent.futures.wait(pending).done)


def _upload_one(uploader, root, path, key, problem, listed, report):
    """(path, outcome): an upload_object.Result, an error message, or None if not attempted."""
    try:
        if problem:
            return path, problem
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            return path, "the file name is not valid UTF-8, which S3 keys must be"
        info = os.stat(os.path.join(root, path))  # Follows a symlink.
        if not stat.S_ISREG(info.st_mode):
            return path, "not a regular file"
        return path, uploader.upload(os.path.join(root, path), key, info, listed)
    except upload_object.Stopped:
        return path, None
    except Exception as e:
        if isinstance(e, _DOOMED_ERRORS) or s3_error_code(e) in _DOOMED_CODES:
            report.stop_reason = report.stop_reason or _reason(e)
            uploader.stop.set()
        return path, _reason(e)


def _reason(error):
    if isinstance(error, botocore.exceptions.ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"S3 {s3_error_code(error)}" + (f": {message}" if message else "")
    if isinstance(error, OSError) and error.strerror:
        return f"cannot read the file: {error.strerror}"
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"


class _Report:
    """Counts outcomes and writes the final report."""

    def __init__(self, secrets):
        self._secrets = secrets
        self.files = self.bytes = self.replaced = self.resumed = 0
        self.skipped = self.skipped_bytes = self.not_attempted = self.hidden = 0
        self.failures, self.planned = [], []
        self.stop_reason, self.interrupted = None, False

    def add(self, path, outcome):
        if outcome is None:
            self.not_attempted += 1
        elif isinstance(outcome, str):
            self.failures.append((path, command.redact(outcome, self._secrets)))
        elif outcome.action == upload_object.SKIPPED:
            self.skipped, self.skipped_bytes = self.skipped + 1, self.skipped_bytes + outcome.size
        else:
            self.files, self.bytes = self.files + 1, self.bytes + outcome.size
            self.replaced += outcome.replaced
            self.resumed += outcome.resumed
            if outcome.action == upload_object.WOULD_UPLOAD:
                self.planned.append((path, outcome.replaced))

    def format(self, destination, seconds, dry_run):
        verb = "would upload" if dry_run else "uploaded"
        rate = self.bytes / _MB / seconds if seconds > 0 else 0.0
        total = self.files + self.skipped + len(self.failures) + self.not_attempted + self.hidden
        lines = [
            f"{verb} {self.files} files ({self.bytes / _MB:.1f} MB) to {destination}"
            + (" (dry run: nothing changed)" if dry_run else f" in {seconds:.1f} s ({rate:.1f} MB/s)"),
            f"  files: {total} = {verb} {self.files} + skipped (already there) {self.skipped} "
            f"({self.skipped_bytes / _MB:.1f} MB) + failed {len(self.failures)}"
            + (f" + hidden (not uploaded) {self.hidden}" if self.hidden else "")
            + (f" + not attempted {self.not_attempted}" if self.not_attempted else ""),
        ]
        notes = (
            [f"{'would replace' if dry_run else 'replaced'} {self.replaced} different objects"] if self.replaced else []
        ) + ([f"resumed {self.resumed} interrupted multipart uploads"] if self.resumed else [])
        if notes:
            lines.append("  " + "; ".join(notes))
        lines += [
            f"  {verb}: {path}" + (" (replacing a different object)" if replaced else "")
            for path, replaced in sorted(self.planned)
        ]
        lines += [f"  failed: {path}: {reason}" for path, reason in sorted(self.failures)]
        if self.stop_reason:
            lines.append(
                f"  stopped early, since every request would fail ({self.stop_reason}): "
                "fix that and rerun the same command"
            )
        if self.interrupted:
            lines.append("  interrupted: rerun the same command to upload the rest and resume big files")
        return "\n".join(lines)

    def exit_code(self):
        if self.interrupted:
            return 130
        return 1 if self.failures or self.not_attempted else 0


class _Counts:
    """Files and bytes uploaded so far, and the totals once counted, for the
    progress line."""

    def __init__(self):
        self._lock = threading.Lock()
        self._files = self._bytes = 0
        self._totals = None  # (files, bytes) once counted

    def add_bytes(self, n):
        with self._lock:
            self._bytes += n

    def add_file(self):
        with self._lock:
            self._files += 1

    def count_totals(self, root, files):
        """Counts what there is to upload, for the ETA (in its own thread: the
        upload starts at once)."""
        count = size = 0
        for path, _ in files:
            count += 1
            try:
                size += os.stat(os.path.join(root, path)).st_size
            except OSError:
                pass
        with self._lock:
            self._totals = (count, size)

    def reading(self):
        with self._lock:
            files, done, totals = self._files, self._bytes, self._totals
        of_files = f"/{totals[0]}" if totals else ""
        return progress.Reading(done, totals[1] if totals else None, "MB", _MB, detail=f"{files}{of_files} files")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
