"""One local file to one S3 object: skipped when an identical object is
already there, resumed when a killed run left its multipart upload behind.

Identical means the same size and the same bytes. The listing of the file's
folder gives each object's size and ETag, which S3 computes from the bytes it
stores: their MD5 for a single PUT, the MD5 of the parts' MD5s plus "-<parts>"
for a multipart upload. So an object is identical, without a request of its
own, when its ETag is the one we compute for the file: as one PUT, or in
parts of our size or of the 8 MiB of `aws s3 cp` and boto3's upload_file.
When it is not (an ETag that is no MD5, as with SSE-KMS, or other part
sizes), the SHA-256 our uploads store as metadata (x-amz-meta-sha256) decides,
read with a HEAD. Any other object at the key is replaced.

The SHA-256 is read before the upload, since metadata goes first; a small
file's MD5 comes from the same read, and its PUT carries it as Content-MD5,
which S3 checks. Parts carry botocore's CRC32 (S3 checks it too), or their
MD5 if botocore is told to send no checksums. A file whose size or
modification time changed while it went up fails (a multipart upload is
aborted, not completed), so the stored SHA-256 describes the stored bytes.

Resume: a multipart upload left at the key is reused when every part in it
has the size and MD5 of the file's part at that position (S3 gives a part the
MD5 of its bytes as ETag). It got its metadata from the run that started it,
so after completing it the SHA-256 is checked, and the file uploaded afresh if
it changed since. Other uploads left at the key are aborted once the object is
in place; an upload that fails is aborted; one stopped by Ctrl-C is kept for
the next run to resume. A store that does not list multipart uploads (not
every S3-compatible one does) gets fresh uploads only: nothing is resumed,
and what a killed run left there stays.
"""

import base64
import concurrent.futures
import dataclasses
import hashlib
import io
import logging
import mimetypes
import os
import threading

import botocore.exceptions

from transforms.storage import UploadsNotListed
from transforms.storage import list_multipart_uploads
from transforms.storage import list_s3_level
from transforms.storage import s3_error_code

_log = logging.getLogger(__name__)

_MIB = 1024 * 1024

# S3's limits: every part but the last at least 5 MiB, at most 5 GiB, and at
# most 10,000 parts (a bigger file gets bigger parts, in whole MiB).
MIN_PART_BYTES = 5 * _MIB
MAX_PART_BYTES = 5 * 1024 * _MIB
_MAX_PARTS = 10_000

# Files are hashed in reads of this size: little memory per thread.
_READ_BYTES = _MIB

# The part size of `aws s3 cp/sync` and boto3's upload_file, so that objects
# they uploaded in parts are recognised as identical by their ETag.
_OTHER_TOOLS_PART_BYTES = (8 * _MIB,)

# x-amz-meta-sha256: the hex SHA-256 of the object's bytes.
SHA256_METADATA = "sha256"

UPLOADED, SKIPPED, WOULD_UPLOAD = "uploaded", "skipped", "would upload"

# `listed` for a key whose folder could not be listed: S3 is asked with a HEAD.
NOT_LISTED = object()


class Stopped(Exception):
    """The run stopped (Ctrl-C, or an error that dooms every upload) before
    this file was done."""


class FileChanged(Exception):
    """The file changed while it was uploaded."""


@dataclasses.dataclass(frozen=True)
class Result:
    action: str  # UPLOADED, SKIPPED or WOULD_UPLOAD
    size: int
    replaced: bool = False  # A different object was at the key.
    resumed: bool = False  # Parts of a killed run's upload were reused.


@dataclasses.dataclass(frozen=True)
class Digests:
    size: int
    mtime_ns: int  # When it was read: a later one means the file changed.
    sha256: str
    part_bytes: int
    md5: bytes  # Of a file of one part; None for a multipart file.

    @property
    def multipart(self):
        return self.size > self.part_bytes

    @property
    def parts(self):
        return max(1, -(-self.size // self.part_bytes))

    def part_range(self, number):
        start = (number - 1) * self.part_bytes
        return start, min(self.part_bytes, self.size - start)


def part_bytes_for(size, part_bytes):
    """`part_bytes`, grown in whole MiB for a file it would cut into more
    than S3's 10,000 parts."""
    needed_mib = -(-size // (_MAX_PARTS * _MIB))
    return max(part_bytes, needed_mib * _MIB)


def file_digests(path, info, part_bytes):
    """The SHA-256 of the file `info` (its os.stat) describes, and the MD5 if
    it goes up in one part, from one read."""
    part_bytes = part_bytes_for(info.st_size, part_bytes)
    sha256 = hashlib.sha256()
    md5 = hashlib.md5() if info.st_size <= part_bytes else None
    _hash_range(path, 0, info.st_size, [h for h in (sha256, md5) if h])
    return Digests(info.st_size, info.st_mtime_ns, sha256.hexdigest(), part_bytes, md5 and md5.digest())


def _hash_range(path, start, length, hashes):
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0:
            chunk = f.read(min(_READ_BYTES, length))
            if not chunk:
                raise FileChanged("the file shrank while it was read")
            for digest in hashes:
                digest.update(chunk)
            length -= len(chunk)


def _range_md5(path, start, length):
    md5 = hashlib.md5()
    _hash_range(path, start, length, [md5])
    return md5.digest()


def _part_md5s(digests, path, part_bytes):
    """The MD5s of the file's parts of `part_bytes`."""
    if digests.md5 is not None and digests.size <= part_bytes:
        return [digests.md5]
    return [
        _range_md5(path, start, min(part_bytes, digests.size - start)) for start in range(0, digests.size, part_bytes)
    ]


def _multipart_etag(part_md5s):
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def _check_unchanged(path, digests):
    info = os.stat(path)
    if (info.st_size, info.st_mtime_ns) != (digests.size, digests.mtime_ns):
        raise FileChanged("the file changed while it was uploaded; rerun to upload it again")


def _b64(digest):
    return base64.b64encode(digest).decode()


class _FileSlice:
    """`length` bytes of a file from `start`, as a stream that botocore can
    rewind with seek(0) to send the body again when it retries a request."""

    def __init__(self, path, start, length):
        self._file = open(path, "rb")
        self._start, self._length = start, length
        self._file.seek(start)

    def read(self, size=-1):
        left = max(self._length - self.tell(), 0)
        return self._file.read(left if size is None or size < 0 else min(size, left))

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.tell(), io.SEEK_END: self._length}[whence]
        self._file.seek(self._start + base + offset)
        return self.tell()

    def tell(self):
        return self._file.tell() - self._start

    def __len__(self):
        return self._length

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._file.close()


class Uploader:
    """Uploads files to keys of one bucket; safe to call from many threads.

    Parts of one multipart file go up in parallel on a pool of its own, so a
    few big files still use every connection, and a file thread that waits for
    its parts never holds a thread those parts need.
    """

    def __init__(self, client, bucket, part_bytes, threads, on_bytes=lambda n: None, dry_run=False):
        self._client, self._bucket = client, bucket
        self._part_bytes = part_bytes
        self._on_bytes = on_bytes  # Called with bytes now known to be at S3.
        self._dry_run = dry_run
        self._parts = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="part")
        self._leftovers = {}  # key -> upload ids a previous run left there
        self.stop = threading.Event()
        self.interrupted = threading.Event()  # Stopped by the user: keep uploads to resume.
        # Like s3transfer: with botocore's default "when_supported", parts carry
        # a CRC32 that S3 checks, declared when the upload is created.
        self._checksum = (
            {"ChecksumAlgorithm": "CRC32"}
            if client.meta.config.request_checksum_calculation == "when_supported"
            else {}
        )

    def close(self):
        self._parts.shutdown(wait=True, cancel_futures=True)

    def find_leftovers(self, prefix):
        """Notes the multipart uploads left under `prefix` (by a killed run).
        Returns None, or the S3 error code of a store that would not list
        them: then big files start fresh uploads, and what was left stays."""
        try:
            uploads = list_multipart_uploads(self._client, self._bucket, prefix)
        except UploadsNotListed as e:
            return e.code
        for key, upload_id in uploads:
            self._leftovers.setdefault(key, []).append(upload_id)
        return None

    def list_folder(self, prefix):
        """name -> (size, ETag) of the objects directly under `prefix`; None
        if S3 would not list them (each file's object is then asked for)."""
        try:
            objects, _ = list_s3_level(self._client, self._bucket, prefix)
            return {entry.path[len(f"s3://{self._bucket}/{prefix}") :]: (entry.size, entry.etag) for entry in objects}
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            _log.info("could not list s3://%s/%s (%s)", self._bucket, prefix, type(e).__name__)
            return None

    def upload(self, path, key, info, listed=NOT_LISTED):
        """Uploads the file (`info` is its os.stat) unless an identical object
        is at `key`; `listed` is the (size, ETag) a listing gave for that
        object, or None if it had none."""
        if self.stop.is_set():
            raise Stopped()
        digests = file_digests(path, info, self._part_bytes)
        if listed is NOT_LISTED:
            head = self._head(key)
            listed = None if head is None else (head["ContentLength"], head["ETag"])
        if listed is not None and self._identical(key, listed, digests, path):
            self._on_bytes(digests.size)
            if not self._dry_run:
                self._abort_leftovers(key, keep=None)
            return Result(SKIPPED, digests.size)
        replaced = listed is not None
        if self._dry_run:
            return Result(WOULD_UPLOAD, digests.size, replaced=replaced)
        resumed = False
        if digests.multipart:
            resumed = self._upload_parts(path, key, digests)
        else:
            self._put(path, key, digests)
        return Result(UPLOADED, digests.size, replaced=replaced, resumed=resumed)

    def _head(self, key):
        try:
            return self._client.head_object(Bucket=self._bucket, Key=key)
        except botocore.exceptions.ClientError as e:
            # 403: no read permission (or no ListBucket, for a missing key):
            # nothing can be confirmed, so the file is uploaded.
            if s3_error_code(e) in ("404", "NoSuchKey", "403", "AccessDenied"):
                return None
            raise

    def _identical(self, key, listed, digests, path):
        size, etag = listed
        if size != digests.size:
            return False
        if self._etag_matches(etag.strip('"'), digests, path):
            return True
        return self._stored_sha256(key) == digests.sha256

    def _stored_sha256(self, key):
        # Metadata names are HTTP header names, so any case: AWS gives them in
        # lower case, gofakes3 as Go canonicalises headers ("Sha256").
        metadata = (self._head(key) or {}).get("Metadata") or {}
        return next((value for name, value in metadata.items() if name.lower() == SHA256_METADATA), None)

    @staticmethod
    def _etag_matches(etag, digests, path):
        """Whether `etag` is the one S3 gives the file's bytes: sent in one
        PUT, or in parts of our size or the other tools'."""
        if "-" not in etag:
            return etag == _part_md5s(digests, path, max(digests.size, 1))[0].hex()
        parts = etag.rsplit("-", 1)[1]
        return any(
            str(-(-digests.size // part_bytes)) == parts
            and _multipart_etag(_part_md5s(digests, path, part_bytes)) == etag
            for part_bytes in (digests.part_bytes, *_OTHER_TOOLS_PART_BYTES)
        )

    def _object_args(self, key, digests):
        args = {"Bucket": self._bucket, "Key": key, "Metadata": {SHA256_METADATA: digests.sha256}}
        content_type = mimetypes.guess_type(key)[0]
        return dict(args, ContentType=content_type) if content_type else args

    def _put(self, path, key, digests):
        with _FileSlice(path, 0, digests.size) as body:
            self._client.put_object(Body=body, ContentMD5=_b64(digests.md5), **self._object_args(key, digests))
        self._on_bytes(digests.size)
        self._abort_leftovers(key, keep=None)
        # S3 checked the bytes against the MD5 read with the SHA-256; a server
        # that does not check gets the file uploaded again by the next run.
        _check_unchanged(path, digests)

    def _upload_parts(self, path, key, digests):
        """Uploads the file in parts, resuming a leftover upload if one fits;
        returns whether one did."""
        upload_id, done = self._resumable(key, digests, path)
        resumed = upload_id is not None
        if not resumed:
            upload_id = self._client.create_multipart_upload(**self._object_args(key, digests), **self._checksum)[
                "UploadId"
            ]
        self._on_bytes(sum(digests.part_range(n)[1] for n in done))
        missing = [n for n in range(1, digests.parts + 1) if n not in done]
        futures = [self._parts.submit(self._upload_part, path, key, upload_id, digests, n) for n in missing]
        try:
            for future in futures:
                entry = future.result()
                done[entry["PartNumber"]] = entry
            _check_unchanged(path, digests)
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [done[n] for n in sorted(done)]},
            )
        except BaseException:
            for future in futures:
                future.cancel()
            # S3 may keep a part that was uploading while the upload was
            # aborted, so the parts in flight end first.
            concurrent.futures.wait(futures)
            if not self.interrupted.is_set():
                self._abort_quietly(key, upload_id)
            raise
        self._abort_leftovers(key, keep=upload_id)
        if resumed and self._stored_sha256(key) != digests.sha256:
            # Started for an older version of the file: its metadata is stale.
            self._upload_parts(path, key, digests)
        return resumed

    def _upload_part(self, path, key, upload_id, digests, number):
        if self.stop.is_set():
            raise Stopped()
        start, length = digests.part_range(number)
        # The part's CRC32 (botocore's) lets S3 check it; without one, its MD5.
        check = self._checksum or {"ContentMD5": _b64(_range_md5(path, start, length))}
        with _FileSlice(path, start, length) as body:
            response = self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **check
            )
        self._on_bytes(length)
        return _part_entry(number, response)

    def _resumable(self, key, digests, path):
        """(upload id, {part number: part}) of a leftover upload whose parts
        all match the file, or (None, {})."""
        for upload_id in self._leftovers.get(key, []):
            try:
                pages = self._client.get_paginator("list_parts").paginate(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
                parts = [part for page in pages for part in page.get("Parts", [])]
            except botocore.exceptions.ClientError as e:
                if s3_error_code(e) == "NoSuchUpload":  # Completed or aborted since.
                    continue
                raise
            if all(self._part_matches(part, digests, path) for part in parts):
                return upload_id, {p["PartNumber"]: _part_entry(p["PartNumber"], p) for p in parts}
        return None, {}

    @staticmethod
    def _part_matches(part, digests, path):
        number = part["PartNumber"]
        if not (1 <= number <= digests.parts and part["Size"] == digests.part_range(number)[1]):
            return False
        return part["ETag"].strip('"') == _range_md5(path, *digests.part_range(number)).hex()

    def _abort_leftovers(self, key, keep):
        for upload_id in self._leftovers.pop(key, []):
            if upload_id != keep:
                self._abort_quietly(key, upload_id)

    def _abort_quietly(self, key, upload_id):
        """Aborts an upload; a failure to is logged, not raised: the file's
        own outcome (or the error that made it fail) is what counts."""
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except botocore.exceptions.ClientError as e:
            if s3_error_code(e) != "NoSuchUpload":
                _log.warning(
                    "could not abort a multipart upload of %s (%s); the next run resumes or aborts it",
                    key,
                    s3_error_code(e),
                )
        except botocore.exceptions.BotoCoreError as e:
            _log.warning(
                "could not abort a multipart upload of %s (%s); the next run resumes or aborts it",
                key,
                type(e).__name__,
            )


def _part_entry(number, part):
    """A part as CompleteMultipartUpload wants it, from UploadPart or ListParts."""
    entry = {"PartNumber": number, "ETag": part["ETag"]}
    if "ChecksumCRC32" in part:
        entry["ChecksumCRC32"] = part["ChecksumCRC32"]
    return entry
