"""Whole-file reads and writes: one S3 client per worker, any Beam filesystem otherwise.

Beam's `FileSystems.open` builds a new boto3 client for every S3 file (about
0.2 s each against a local S3 server, so about 4 images/s). `Storage` keeps
one thread-safe client per worker instead, built from the same S3 options, so
that many GETs can run at once over its connection pool.

Small output files (labels.txt, errors.jsonl) are written whole with one PUT:
Beam's S3 writer always uses a multipart upload, and an empty file (a run with
no errors) becomes a multipart upload with no parts, which S3 rejects.
"""

import urllib.parse

import apache_beam as beam
import boto3
import botocore.config
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
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


class Storage:
    """Reads and writes whole files; safe to share between threads."""

    def __init__(self, s3_client_settings, max_connections=10):
        self._s3_settings = s3_client_settings
        self._max_connections = max_connections
        self._s3 = None

    def read(self, path):
        if is_s3(path):
            bucket, key = split_s3_path(path)
            return self._s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()

    def write(self, path, data):
        if is_s3(path):
            bucket, key = split_s3_path(path)
            self._s3_client().put_object(Bucket=bucket, Key=key, Body=data)
            return
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(data)

    def _s3_client(self):
        if self._s3 is None:  # A benign race: at worst two clients get built.
            self._s3 = make_s3_client(self._s3_settings, self._max_connections)
        return self._s3


class WriteWholeFile(beam.DoFn):
    """Writes each input element (bytes) as the whole content of `path`."""

    def __init__(self, path, s3_client_settings):
        self._path = path
        self._s3_client_settings = s3_client_settings

    def setup(self):
        self._storage = Storage(self._s3_client_settings)

    def process(self, data):
        self._storage.write(self._path, data)
        yield self._path
