"""Whole-file reads and writes: one S3 client per worker, any Beam filesystem otherwise.

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
"""

import contextlib
import io
import os
import posixpath
import re
import urllib.parse
import uuid

import boto3
import botocore.config
import botocore.exceptions
import urllib3.exceptions
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import S3Options

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
_BODY_READ_ERRORS = (botocore.exceptions.ResponseStreamingError,
                     botocore.exceptions.IncompleteReadError,
                     botocore.exceptions.ReadTimeoutError,
                     botocore.exceptions.ConnectionClosedError,
                     urllib3.exceptions.ProtocolError)

# Hidden temporaries beside their target: '.<name>.inprogress-<hex>'.
_TEMP_SUFFIX = ".inprogress-"
_TEMP_NAME = re.compile(r"^\..+\.inprogress-[0-9a-f]{32}$")

# boto3's "standard" retry mode backs off on throttling (503 SlowDown) and
# transient 5xx/connection errors; a few more attempts than its default 3
# ride out a busy bucket without hiding a dead endpoint for long.
_S3_MAX_ATTEMPTS = 6


def s3_settings(options):
    """The S3 options as a plain dict, picklable into DoFns.

    Beam does not hand pipeline options to every kind of remote worker, so a
    DoFn that needs S3 carries its own copy of these settings.
    """
    s3 = options.view_as(S3Options)
    settings = {arg: getattr(s3, name) for arg, name in _S3_CLIENT_ARGS.items()}
    settings["use_ssl"] = not s3.s3_disable_ssl
    return settings


def configure_beam_filesystems(s3_client_settings):
    """Hands Beam's own filesystems (used by MatchFiles and WriteToTFRecord)
    our S3 settings in a worker process that got no pipeline options.

    Beam passes pipeline options to workers it starts itself (PROCESS, DOCKER),
    but not to EXTERNAL worker-pool workers: there Beam's S3 filesystem has no
    endpoint or credentials. Our DoFns carry the settings, and call this from
    setup(). Options the worker already has are left alone.
    """
    if FileSystems._pipeline_options is not None:  # Beam keeps no public getter.
        return
    flags = {name: s3_client_settings.get(arg) for arg, name in _S3_CLIENT_ARGS.items()}
    flags["s3_disable_ssl"] = not s3_client_settings.get("use_ssl", True)
    FileSystems.set_options(PipelineOptions(**{k: v for k, v in flags.items() if v is not None}))


def make_s3_client(settings, max_connections=10, max_attempts=_S3_MAX_ATTEMPTS):
    config = botocore.config.Config(
        max_pool_connections=max_connections,
        retries={"mode": "standard", "max_attempts": max_attempts})
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


def is_s3(path):
    return path.startswith("s3://")


def is_temporary(name):
    """True for the temporaries `open_atomic` leaves behind if it is killed."""
    return bool(_TEMP_NAME.match(name))


def _temporary_for(path):
    folder, name = posixpath.split(path)
    return FileSystems.join(folder, f".{name}{_TEMP_SUFFIX}{uuid.uuid4().hex}")


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
            self._upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key)["UploadId"]
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            PartNumber=number, Body=bytes(self._buffer))
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer.clear()

    def commit(self):
        if self._upload_id is None:  # Small (or empty) file: one PUT.
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._upload_part()
        self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts})

    def abort(self):
        if self._upload_id is not None:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


class _S3ReadStream(io.RawIOBase):
    """A readable stream of one S3 object that resumes broken bodies with ranged GETs."""

    def __init__(self, client, bucket, key):
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._position = 0
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
        buffer[:len(data)] = data
        return len(data)

    def _open(self):
        extra = {"Range": f"bytes={self._position}-"} if self._position else {}
        response = self._client.get_object(Bucket=self._bucket, Key=self._key, **extra)
        if self._size is None:
            self._size = response["ContentLength"]
        self._body = response["Body"]

    def _reopen_or_raise(self):
        self._failures += 1
        if self._failures >= _BODY_READ_ATTEMPTS:
            raise IOError(f"s3://{self._bucket}/{self._key}: the body broke off "
                          f"{self._failures} times in a row (at byte {self._position})")
        self._body = None

    def close(self):
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


class Storage:
    """Reads and writes whole files; safe to share between threads."""

    def __init__(self, s3_client_settings, max_connections=10, max_attempts=_S3_MAX_ATTEMPTS):
        configure_beam_filesystems(s3_client_settings)
        self._s3_settings = s3_client_settings
        self._max_connections = max_connections
        self._max_attempts = max_attempts
        self._s3 = None

    def read(self, path):
        if is_s3(path):
            return self._read_s3(*split_s3_path(path))
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()

    def _read_s3(self, bucket, key):
        chunks = []
        with _S3ReadStream(self.s3_client(), bucket, key) as stream:
            for chunk in iter(stream.read, b""):  # Several chunks only if the body broke.
                chunks.append(chunk)
        return b"".join(chunks)

    def open_read(self, path):
        """A binary stream of the file at `path`, for files too big to read whole.

        On S3 a body that breaks mid-read is picked up where it stopped with a
        ranged GET, so one reset does not restart a multi-gigabyte shard.
        """
        if is_s3(path):
            return _S3ReadStream(self.s3_client(), *split_s3_path(path))
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def write(self, path, data):
        if is_s3(path):
            bucket, key = split_s3_path(path)
            self.s3_client().put_object(Bucket=bucket, Key=key, Body=data)
            return
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(data)

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
        temporary = _temporary_for(path)
        try:
            with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                yield f
            FileSystems.rename([temporary], [path])
        except BaseException:
            if FileSystems.exists(temporary):
                FileSystems.delete([temporary])
            raise

    def list_folder(self, folder):
        """Names of the files directly inside `folder`; empty if there is none."""
        if is_s3(folder):
            bucket, prefix = split_s3_path(folder.rstrip("/") + "/")
            pages = self.s3_client().get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter="/")
            return sorted(item["Key"][len(prefix):] for page in pages
                          for item in page.get("Contents", []))
        if "://" not in folder:
            # Not a glob: a folder named out[1] must list itself, not out1.
            try:
                with os.scandir(folder) as entries:
                    return sorted(entry.name for entry in entries if entry.is_file())
            except (FileNotFoundError, NotADirectoryError):
                return []
        if not FileSystems.exists(folder):
            return []
        matches = FileSystems.match([FileSystems.join(folder.rstrip("/"), "*")])[0].metadata_list
        return sorted(posixpath.basename(m.path) for m in matches)

    def list_children(self, folder):
        """(files, subfolders) directly inside `folder`, as full paths; None
        for a filesystem this cannot list one level of (then match it whole)."""
        folder = folder.rstrip("/")
        if is_s3(folder):
            bucket, prefix = split_s3_path(folder + "/")
            pages = self.s3_client().get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter="/")
            files, folders = [], []
            for page in pages:
                files += [f"s3://{bucket}/{item['Key']}" for item in page.get("Contents", [])]
                folders += [f"s3://{bucket}/{item['Prefix'].rstrip('/')}"
                            for item in page.get("CommonPrefixes", [])]
            return sorted(files), sorted(folders)
        if "://" in folder:
            return None
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        return ([e.path for e in entries if e.is_file()],
                [e.path for e in entries if e.is_dir()])

    def delete(self, paths):
        """Deletes the files that exist among `paths`."""
        for path in paths:
            if is_s3(path):  # Deleting a missing key succeeds.
                bucket, key = split_s3_path(path)
                self.s3_client().delete_object(Bucket=bucket, Key=key)
            elif FileSystems.exists(path):
                FileSystems.delete([path])

    def s3_client(self):
        """The worker's one boto3 S3 client, built on first use."""
        if self._s3 is None:  # A benign race: at worst two clients get built.
            self._s3 = make_s3_client(self._s3_settings, self._max_connections, self._max_attempts)
        return self._s3
