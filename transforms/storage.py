"""Whole-file reads and writes: one S3 client per worker, local files directly.

Beam's `FileSystems.open` builds a new boto3 client for every S3 file (about
0.2 s each against a local S3 server, so about 4 images/s). `Storage` keeps
one thread-safe client per worker instead, built from the same S3 options, so
that many GETs can run at once over its connection pool.

Small output files (labels.txt, errors.jsonl) are written whole with one PUT:
Beam's S3 writer always uses a multipart upload, and an empty file (a run with
no errors) becomes a multipart upload with no parts, which S3 rejects.

Shards are streamed with `open_atomic`: nothing appears under the final name
until the file is complete. On S3 that is a multipart upload (invisible until
CompleteMultipartUpload, aborted on failure); elsewhere a hidden temporary
file beside the target, renamed into place.

Imports no Beam: `pipeline.read`, which a training job imports, reads
through this module. Local paths and S3 are handled here; any other scheme
Beam has a filesystem for (gs://, hdfs://) goes through Beam's FileSystems,
imported on first use.
"""

import contextlib
import io
import os
import posixpath
import re
import threading
import time
import typing
import urllib.parse
import uuid

import botocore.exceptions
import urllib3.exceptions

from transforms.paths import has_scheme
from transforms.paths import is_s3
from transforms.paths import join

# Beam's S3Options, by the boto3 argument each one feeds.
_S3_CLIENT_ARGS = {
    "aws_access_key_id": "s3_access_key_id",
    "aws_secret_access_key": "s3_secret_access_key",
    "aws_session_token": "s3_session_token",
    "endpoint_url": "s3_endpoint_url",
    "region_name": "s3_region_name",
    "api_version": "s3_api_version",
    "verify": "s3_verify",
}

# S3 parts must be at least 5 MiB (but the last); 16 MiB keeps a 1 GiB shard
# within S3's 10,000-part limit many times over, at 16 MiB of memory a writer.
# IM2TFRECORD_S3_PART_MIB changes it (tests use 5 to exercise multipart uploads).
_PART_BYTES = int(float(os.environ.get("IM2TFRECORD_S3_PART_MIB", "16")) * 1024 * 1024)

# botocore retries a failed request, but not a response body that breaks while
# it is read (a reset or truncated GET): such a read is picked up where it
# broke off, with a ranged GET, up to this many times in a row.
_BODY_READ_ATTEMPTS = 4
_BODY_READ_ERRORS = (
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    urllib3.exceptions.ProtocolError,
)

# Keys in one DeleteObjects request: S3's limit.
_DELETE_BATCH = 1000
# A DeleteObjects answer is a 200 that may name keys it did not delete, each
# with its own code; these are worth asking again (S3 asks clients to retry
# them), up to _DELETE_ATTEMPTS rounds a batch, _DELETE_BACKOFF_S apart,
# doubled each round. Any other code (AccessDenied) is raised at once.
_DELETE_RETRIED_CODES = frozenset({"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"})
_DELETE_ATTEMPTS = 5
_DELETE_BACKOFF_S = 0.2
# How an S3-compatible store refuses a call it does not implement (501
# NotImplemented, 405 MethodNotAllowed). A store without DeleteObjects then gets
# one DELETE a key; see also _UPLOADS_NOT_LISTED_CODES.
_NOT_IMPLEMENTED_CODES = frozenset({"NotImplemented", "501", "MethodNotAllowed", "405"})

# Hidden temporaries beside their target: '.<name>.inprogress-<hex>'.
_TEMP_SUFFIX = ".inprogress-"
_TEMP_NAME = re.compile(r"^\..+\.inprogress-[0-9a-f]{32}$")

# boto3's "standard" retry mode backs off on throttling (503 SlowDown) and
# transient 5xx/connection errors; a few more attempts than its default 3
# ride out a busy bucket without hiding a dead endpoint for long.
_S3_MAX_ATTEMPTS = 6


def s3_settings(options):
    """The S3 options of Beam `options` as a plain dict, picklable into DoFns.

    Beam does not hand pipeline options to every kind of remote worker, so a
    DoFn that needs S3 carries its own copy of these settings.
    """
    from apache_beam.options.pipeline_options import S3Options  # Beam is loaded: options are Beam's.

    s3 = options.view_as(S3Options)
    return s3_settings_from_flags({name: getattr(s3, name) for name in _S3_CLIENT_ARGS.values()}, s3.s3_disable_ssl)


def s3_settings_from_flags(values, disable_ssl=False):
    """boto3 client arguments from S3 flag values ({"s3_endpoint_url": ...}),
    the same whether Beam or one of our own parsers read the flags."""
    settings = {arg: values.get(name) for arg, name in _S3_CLIENT_ARGS.items()}
    settings["use_ssl"] = not disable_ssl
    return settings


def configure_beam_filesystems(s3_client_settings):
    """Hands Beam's own filesystems (MatchAll, WriteToTFRecord) our S3
    settings in this worker process, once.

    Beam passes pipeline options to workers it starts itself (PROCESS, DOCKER),
    but not to EXTERNAL worker-pool workers: there Beam's S3 filesystem has no
    endpoint or credentials. Our DoFns carry the settings, and call this from
    setup(). They come from the same command line as the worker's options,
    so setting them where the worker has options too changes nothing for S3
    (the only remote store the tool reads and writes).
    """
    global _beam_configured_with
    with _beam_lock:
        if _beam_configured_with == s3_client_settings:
            return
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.options.pipeline_options import PipelineOptions

        flags = {name: s3_client_settings.get(arg) for arg, name in _S3_CLIENT_ARGS.items()}
        flags["s3_disable_ssl"] = not s3_client_settings.get("use_ssl", True)
        FileSystems.set_options(PipelineOptions(**{k: v for k, v in flags.items() if v is not None}))
        _beam_configured_with = dict(s3_client_settings)


_beam_lock = threading.Lock()
_beam_configured_with = None


def s3_error_code(error):
    """The S3 error code of a botocore ClientError ('NoSuchKey', 'AccessDenied';
    a HEAD answer, which has no body, gives its status: '404'); '' otherwise."""
    if not isinstance(error, botocore.exceptions.ClientError):
        return ""
    return str(error.response.get("Error", {}).get("Code", ""))


def _beam_filesystems():
    """Beam's FileSystems, for schemes other than local and s3://."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def make_s3_client(settings, max_connections=10, max_attempts=_S3_MAX_ATTEMPTS, ranged=False):
    """A boto3 S3 client; `ranged`: one for ranged GETs, which checks no
    response checksum, since a server may send the whole object's checksum
    with part of its bytes (gofakes3 does; S3 sends none).

    boto3 is imported here, on first use: a local run never makes a client,
    and boto3's import is about 0.2 s of its start and of each shard
    process's."""
    import boto3
    import botocore.config

    config = botocore.config.Config(
        max_pool_connections=max_connections,
        retries={"mode": "standard", "max_attempts": max_attempts},
        response_checksum_validation="when_required" if ranged else "when_supported",
    )
    return boto3.session.Session().client("s3", config=config, **settings)


def split_s3_path(path):
    """'s3://bucket/a/b.jpg' -> ('bucket', 'a/b.jpg')."""
    parsed = urllib.parse.urlsplit(path, allow_fragments=False)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// path: {path!r}")
    key = parsed.path[1:]
    if parsed.query:  # '?' is a legal key character, not a query string.
        key += "?" + parsed.query
    return parsed.netloc, key


def is_temporary(name):
    """True for the temporaries `open_atomic` leaves behind if it is killed."""
    return bool(_TEMP_NAME.match(name))


def temporary_for(path):
    """A hidden name beside `path` that is_temporary knows as ours."""
    folder, name = posixpath.split(path) if has_scheme(path) else os.path.split(path)
    return join(folder, f".{name}{_TEMP_SUFFIX}{uuid.uuid4().hex}")


class ObjectEntry(typing.NamedTuple):
    """One object of an S3 listing."""

    path: str
    size: int
    etag: str = None


def list_s3_level(client, bucket, prefix):
    """([ObjectEntry of each object], [subfolder paths]) directly under `prefix`
    (which ends with '/', or is '' for the bucket's top), sorted: the one
    delimited listing every command uses, a request per 1,000 keys."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    files, folders = [], set()
    for page in pages:
        for item in page.get("Contents", []):
            below = item["Key"][len(prefix) :]
            if "/" in below:
                # A key ending in '/' deeper down (a folder marker), which S3
                # rolls into its folder but gofakes3 lists as an object here:
                # its folder, so that the marker is met once, in that folder.
                folders.add(f"s3://{bucket}/{prefix}{below.split('/', 1)[0]}")
            else:
                files.append(ObjectEntry(f"s3://{bucket}/{item['Key']}", item["Size"], item.get("ETag")))
        folders.update(f"s3://{bucket}/{item['Prefix'].rstrip('/')}" for item in page.get("CommonPrefixes", []))
    return sorted(files), sorted(folders)


def _delete_s3_keys(client, bucket, names):
    """Deletes `names` in `bucket` (a missing key counts as deleted), in
    DeleteObjects batches; keys a batch reports with a transient code are
    asked again. A refusal is raised as botocore's ClientError with the
    store's code (what the command line explains, as any S3 error)."""
    for start in range(0, len(names), _DELETE_BATCH):
        batch = names[start : start + _DELETE_BATCH]
        for attempt in range(_DELETE_ATTEMPTS):
            try:
                answer = client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
            except botocore.exceptions.ClientError as e:
                if s3_error_code(e) not in _NOT_IMPLEMENTED_CODES:
                    raise
                for key in names[start:]:
                    client.delete_object(Bucket=bucket, Key=key)
                return
            failed = answer.get("Errors") or []
            refused = [error for error in failed if error.get("Code") not in _DELETE_RETRIED_CODES]
            if refused or (failed and attempt == _DELETE_ATTEMPTS - 1):
                error = (refused or failed)[0]
                message = f"could not delete s3://{bucket}/{error['Key']}: {error.get('Message', '')}"
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": error.get("Code", ""), "Message": message}}, "DeleteObjects"
                )
            if not failed:
                break
            batch = [error["Key"] for error in failed]
            time.sleep(_DELETE_BACKOFF_S * 2**attempt)


# How S3-compatible stores refuse ListMultipartUploads: not implemented (501
# NotImplemented, 405 MethodNotAllowed), gofakes3's 404 NoSuchUpload for a
# bucket that never had a multipart upload, or no permission for it (403).
# The listing is optional to every caller: it only finds what killed runs left.
_UPLOADS_NOT_LISTED_CODES = _NOT_IMPLEMENTED_CODES | {"NoSuchUpload", "AccessDenied", "403"}


class UploadsNotListed(Exception):
    """The store refused to list multipart uploads; `code` is its S3 error code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def list_multipart_uploads(client, bucket, prefix):
    """[(key, upload id)] of the multipart uploads in progress under `prefix`.
    Raises UploadsNotListed when the store refuses the call; other errors as boto3's."""
    try:
        pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
        return [(upload["Key"], upload["UploadId"]) for page in pages for upload in page.get("Uploads", [])]
    except botocore.exceptions.ClientError as e:
        if s3_error_code(e) in _UPLOADS_NOT_LISTED_CODES:
            raise UploadsNotListed(s3_error_code(e)) from None
        raise


def uploads_not_listed_note(code, consequence):
    """The one line a command prints when the store refused to list multipart uploads."""
    return f"note: the store does not list multipart uploads ({code}): {consequence}"


class _MultipartUpload:
    """A file-like writer that streams to one S3 object in 16 MiB parts."""

    def __init__(self, client, bucket, key):
        self._client, self._bucket, self._key = client, bucket, key
        self._buffer = bytearray()
        self._upload_id = None
        self._parts = []

    def write(self, data):
        self._buffer += data
        if len(self._buffer) >= _PART_BYTES:
            self._upload_part()

    def _upload_part(self):
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)["UploadId"]
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer)
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer.clear()

    def commit(self):
        if self._upload_id is None:  # Small (or empty) file: one PUT.
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._upload_part()
        self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    def abort(self):
        if self._upload_id is not None:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


class _S3ReadStream(io.RawIOBase):
    """A readable stream of one S3 object that resumes broken bodies with ranged GETs."""

    def __init__(self, client, ranged_client, bucket, key, start=0):
        super().__init__()
        self._client, self._ranged_client, self._bucket, self._key = client, ranged_client, bucket, key
        self._position = start
        self._size = None
        self._body = None
        self._failures = 0

    def readable(self):
        return True

    def read(self, size=-1):
        while True:
            if self._size is not None and self._position >= self._size:
                return b""
            try:
                if self._body is None:
                    self._open()
                data = self._body.read(None if size is None or size < 0 else size)
            except _BODY_READ_ERRORS:
                self._reopen_or_raise()
                continue
            if not data and self._position < self._size:  # Closed early, no error.
                self._reopen_or_raise()
                continue
            self._position += len(data)
            self._failures = 0  # Counts breaks in a row: a long read may see many.
            return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _open(self):
        if self._position:
            response = self._ranged_client().get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-"
            )
        else:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key)
        if self._size is None:  # A ranged GET's length is what is left from where it starts.
            self._size = self._position + response["ContentLength"]
        self._body = response["Body"]

    def _reopen_or_raise(self):
        self._failures += 1
        if self._failures >= _BODY_READ_ATTEMPTS:
            raise IOError(
                f"s3://{self._bucket}/{self._key}: the body broke off "
                f"{self._failures} times in a row (at byte {self._position})"
            )
        self._body = None

    def close(self):
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


class Storage:
    """Reads and writes whole files; safe to share between threads."""

    def __init__(self, s3_client_settings, max_connections=10, max_attempts=_S3_MAX_ATTEMPTS):
        self._s3_settings = s3_client_settings
        self._max_connections = max_connections
        self._max_attempts = max_attempts
        self._s3 = None
        self._ranged_s3 = None

    def read(self, path):
        if is_s3(path):
            return self._read_s3(*split_s3_path(path))
        with self.open_read(path) as f:
            return f.read()

    def _read_s3(self, bucket, key):
        chunks = []
        with _S3ReadStream(self.s3_client(), self._ranged_s3_client, bucket, key) as stream:
            for chunk in iter(stream.read, b""):  # Several chunks only if the body broke.
                chunks.append(chunk)
        return b"".join(chunks)

    def open_read(self, path, start=0):
        """A binary stream of the file at `path` from byte `start`, for files
        too big to read whole.

        On S3 a body that breaks mid-read is picked up where it stopped with a
        ranged GET, so one reset does not restart a multi-gigabyte shard.
        """
        if is_s3(path):
            return _S3ReadStream(self.s3_client(), self._ranged_s3_client, *split_s3_path(path), start=start)
        stream = (
            open(path, "rb")
            if not has_scheme(path)
            else _beam_filesystems().open(path, compression_type="uncompressed")
        )
        if start:
            stream.seek(start)
        return stream

    def size(self, path):
        """The size of the file at `path` in bytes."""
        if is_s3(path):
            bucket, key = split_s3_path(path)
            return self.s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"]
        if not has_scheme(path):
            return os.path.getsize(path)
        return _beam_filesystems().match([path])[0].metadata_list[0].size_in_bytes

    def write(self, path, data):
        if is_s3(path):
            bucket, key = split_s3_path(path)
            self.s3_client().put_object(Bucket=bucket, Key=key, Body=data)
            return
        with self._create(path) as f:
            f.write(data)

    @staticmethod
    def _create(path):
        """A new file at `path` (a local one's folders made as needed)."""
        if has_scheme(path):
            return _beam_filesystems().create(path, compression_type="uncompressed")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return open(path, "wb")

    @contextlib.contextmanager
    def open_atomic(self, path):
        """A writer whose bytes appear at `path` only if the block completes."""
        if is_s3(path):
            upload = _MultipartUpload(self.s3_client(), *split_s3_path(path))
            try:
                yield upload
                upload.commit()
            except BaseException:
                upload.abort()
                raise
            return
        temporary = temporary_for(path)
        try:
            with self._create(temporary) as f:
                yield f
            self._rename(temporary, path)
        except BaseException:
            self.delete([temporary])
            raise

    @staticmethod
    def _rename(source, target):
        if not has_scheme(source):
            os.replace(source, target)
        else:
            _beam_filesystems().rename([source], [target])

    def list_folder(self, folder):
        """Names of the files directly inside `folder`; empty if there is none."""
        return sorted(self.file_sizes(folder))

    def file_sizes(self, folder):
        """{name: bytes} of the files directly inside `folder` (one listing,
        not a request per file); empty if there is no such folder."""
        if is_s3(folder):
            return {posixpath.basename(entry.path): entry.size for entry in self.list_level(folder)[0]}
        if not has_scheme(folder):  # Not a glob: a folder named out[1] must list itself, not out1.
            try:
                with os.scandir(folder) as entries:
                    return {entry.name: entry.stat().st_size for entry in entries if entry.is_file()}
            except (FileNotFoundError, NotADirectoryError):
                return {}
        filesystems = _beam_filesystems()
        if not filesystems.exists(folder):
            return {}
        matches = filesystems.match([join(folder, "*")])[0].metadata_list
        return {posixpath.basename(m.path): m.size_in_bytes for m in matches}

    def file_versions(self, folder, name_prefix=""):
        """{name: version} of the files directly inside `folder` whose names
        start with `name_prefix`, in one listing of that prefix alone: a
        file's version changes when it is written again (S3's ETag), or most
        likely does (a local file's size and mtime, elsewhere its size and,
        where the filesystem gives one, its modification time: a rewrite of
        the same size within the clock's tick keeps them)."""
        if is_s3(folder):
            bucket, prefix = split_s3_path(folder.rstrip("/") + "/")
            entries = list_s3_level(self.s3_client(), bucket, prefix + name_prefix)[0]
            return {posixpath.basename(entry.path): entry.etag for entry in entries}
        if not has_scheme(folder):
            try:
                with os.scandir(folder) as entries:
                    found = [entry for entry in entries if entry.name.startswith(name_prefix) and entry.is_file()]
                    return {entry.name: (entry.stat().st_size, entry.stat().st_mtime_ns) for entry in found}
            except (FileNotFoundError, NotADirectoryError):
                return {}
        filesystems = _beam_filesystems()
        if not filesystems.exists(folder):
            return {}
        matches = filesystems.match([join(folder, name_prefix + "*")])[0].metadata_list
        return {posixpath.basename(m.path): (m.size_in_bytes, m.last_updated_in_seconds) for m in matches}

    def list_level(self, folder):
        """([ObjectEntry of each file], [subfolder paths]) directly inside an S3 `folder`, sorted."""
        bucket, prefix = split_s3_path(folder.rstrip("/") + "/")
        return list_s3_level(self.s3_client(), bucket, prefix)

    def list_children(self, folder):
        """(files, subfolders) directly inside `folder`, as full paths; None
        for a filesystem this cannot list one level of (then match it whole)."""
        folder = folder.rstrip("/")
        if is_s3(folder):
            files, folders = self.list_level(folder)
            return [entry.path for entry in files], folders
        if has_scheme(folder):
            return None
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        return ([e.path for e in entries if e.is_file()], [e.path for e in entries if e.is_dir()])

    def delete(self, paths):
        """Deletes the files that exist among `paths`. S3 keys go in batches
        of a multi-object delete (a request per _DELETE_BATCH keys, not one
        per key: a dataset of thousands of shards leaves thousands of
        hidden records)."""
        keys = {}
        for path in paths:
            if is_s3(path):
                bucket, key = split_s3_path(path)
                keys.setdefault(bucket, []).append(key)
            elif not has_scheme(path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            elif _beam_filesystems().exists(path):
                _beam_filesystems().delete([path])
        for bucket, names in keys.items():
            _delete_s3_keys(self.s3_client(), bucket, names)

    def s3_client(self):
        """The worker's one boto3 S3 client, built on first use."""
        if self._s3 is None:  # A benign race: at worst two clients get built.
            self._s3 = make_s3_client(self._s3_settings, self._max_connections, self._max_attempts)
        return self._s3

    def _ranged_s3_client(self):
        """The client for ranged GETs (make_s3_client), built on first use."""
        if self._ranged_s3 is None:
            self._ranged_s3 = make_s3_client(self._s3_settings, self._max_connections, self._max_attempts, True)
        return self._ranged_s3
