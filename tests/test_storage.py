import os

import botocore.exceptions
import pytest

from tests.conftest import on_both_s3_servers
from tests.conftest import s3_client_settings
from tests.fault_proxy import FaultProxy
from transforms import storage as storage_module
from transforms.storage import Storage
from transforms.storage import s3_error_code
from transforms.storage import split_s3_path


def test_split_s3_path_keeps_odd_key_characters():
    assert split_s3_path("s3://b/a/b.jpg") == ("b", "a/b.jpg")
    assert split_s3_path("s3://b/a b/c?d.jpg") == ("b", "a b/c?d.jpg")
    assert split_s3_path("s3://b/a/#1.jpg") == ("b", "a/#1.jpg")
    with pytest.raises(ValueError):
        split_s3_path("/local/path.jpg")


def test_reader_reads_s3_and_local_files(s3_client, s3_endpoint, bucket, tmp_path):
    s3_client.put_object(Bucket=bucket, Key="in/ants/a b+c%.jpg", Body=b"s3 bytes")
    local = tmp_path / "x.jpg"
    local.write_bytes(b"local bytes")
    reader = _storage(s3_endpoint)
    assert reader.read(f"s3://{bucket}/in/ants/a b+c%.jpg") == b"s3 bytes"
    assert reader.read(str(local)) == b"local bytes"


def _storage(s3_endpoint):
    return Storage(s3_client_settings(s3_endpoint))


def test_open_atomic_local_shows_nothing_until_complete(tmp_path):
    storage = Storage({})
    target = tmp_path / "train-00000-of-00001.tfrecord"
    with storage.open_atomic(str(target)) as f:
        f.write(b"part one ")
        assert not target.exists()
        f.write(b"part two")
    assert target.read_bytes() == b"part one part two"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_open_atomic_local_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with Storage({}).open_atomic(str(tmp_path / "x.tfrecord")) as f:
            f.write(b"partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_open_atomic_s3_multipart(monkeypatch, s3_client, s3_endpoint, bucket):
    monkeypatch.setattr(storage_module, "_PART_BYTES", 5 * 1024 * 1024)  # S3's minimum part
    chunk = bytes(range(256)) * 4096  # 1 MiB
    with _storage(s3_endpoint).open_atomic(f"s3://{bucket}/out/big.tfrecord") as f:
        for _ in range(12):
            f.write(chunk)
        assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket, Prefix="out/")
    body = s3_client.get_object(Bucket=bucket, Key="out/big.tfrecord")["Body"].read()
    assert body == chunk * 12


def test_open_atomic_s3_failure_aborts_the_upload(monkeypatch, s3_client, s3_endpoint, bucket):
    monkeypatch.setattr(storage_module, "_PART_BYTES", 5 * 1024 * 1024)
    with pytest.raises(RuntimeError):
        with _storage(s3_endpoint).open_atomic(f"s3://{bucket}/out/big.tfrecord") as f:
            f.write(b"x" * 6 * 1024 * 1024)  # one part uploaded
            raise RuntimeError("killed")
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket, Prefix="out/")
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_small_and_empty_files_on_s3(s3_client, s3_endpoint, bucket):
    storage = _storage(s3_endpoint)
    with storage.open_atomic(f"s3://{bucket}/out/empty.tfrecord"):
        pass
    storage.write(f"s3://{bucket}/out/labels.txt", b"a\n")
    assert s3_client.get_object(Bucket=bucket, Key="out/empty.tfrecord")["Body"].read() == b""
    assert storage.list_folder(f"s3://{bucket}/out") == ["empty.tfrecord", "labels.txt"]
    storage.delete([f"s3://{bucket}/out/labels.txt"])
    assert storage.list_folder(f"s3://{bucket}/out/") == ["empty.tfrecord"]


def test_open_read_streams_and_resumes_broken_bodies(s3_client, s3_endpoint, bucket, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=data)
    (tmp_path / "big.bin").write_bytes(data)
    # Every 2nd GET is faulted, cycling through 503, 500, reset, stall and a
    # body cut off halfway, which the stream must resume with a ranged GET.
    with FaultProxy(s3_endpoint, period=2, stall_s=0.1) as proxy:
        store = _storage(proxy.endpoint)
        for path in [f"s3://{bucket}/big.bin"] * 8 + [str(tmp_path / "big.bin")]:
            with store.open_read(path) as stream:
                chunks = iter(lambda: stream.read(256 * 1024), b"")
                assert b"".join(chunks) == data, path
    assert proxy.faults[("GET", "truncate")] >= 1, proxy.faults


def _put_keys(s3_client, bucket, prefix, count):
    for n in range(count):
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{n}", Body=b"x")
    return [f"s3://{bucket}/{prefix}/{n}" for n in range(count)]


def _left(s3_client, bucket, prefix):
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])]


@on_both_s3_servers
def test_deletes_ask_again_for_keys_a_batch_failed_on(s3_client, s3_endpoint, bucket, monkeypatch):
    # A DeleteObjects answer is a 200 that may name keys it did not delete
    # (InternalError, SlowDown): those are asked again until none is left.
    monkeypatch.setattr(storage_module, "_DELETE_BATCH", 4)
    monkeypatch.setattr(storage_module, "_DELETE_BACKOFF_S", 0.01)
    paths = _put_keys(s3_client, bucket, "retried", 10)
    with FaultProxy(s3_endpoint, period=10**9, delete_key_errors=("InternalError", "SlowDown")) as proxy:
        Storage(s3_client_settings(proxy.endpoint)).delete(paths)
    assert _left(s3_client, bucket, "retried") == []
    # Three batches of 4, 4 and 2 keys; the first asked three times.
    assert proxy.requests["DeleteObjects"] == 5


@on_both_s3_servers
def test_a_key_refused_by_a_batch_delete_is_raised_with_its_code(s3_client, s3_endpoint, bucket):
    paths = _put_keys(s3_client, bucket, "refused", 3)
    with FaultProxy(s3_endpoint, period=10**9, delete_key_errors=("AccessDenied",)) as proxy:
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            Storage(s3_client_settings(proxy.endpoint)).delete(paths)
    # The code the command line explains an S3 refusal by, and the key.
    assert s3_error_code(raised.value) == "AccessDenied"
    assert f"s3://{bucket}/refused/0" in str(raised.value)
    assert proxy.requests["DeleteObjects"] == 1
    assert len(_left(s3_client, bucket, "refused")) == 3


@on_both_s3_servers
def test_a_store_without_batch_deletes_gets_one_delete_a_key(s3_client, s3_endpoint, bucket, monkeypatch):
    monkeypatch.setattr(storage_module, "_DELETE_BATCH", 4)
    paths = _put_keys(s3_client, bucket, "one-by-one", 10)
    with FaultProxy(s3_endpoint, period=10**9, refuse_batch_delete=True) as proxy:
        Storage(s3_client_settings(proxy.endpoint)).delete([*paths, f"s3://{bucket}/one-by-one/missing"])
    assert _left(s3_client, bucket, "one-by-one") == []
    # One DELETE a key (the missing one too), and again for the one the
    # proxy's schedule faults (the first of each operation): boto3 retries it.
    faulted = sum(n for (op, _), n in proxy.faults.items() if op == "DELETE")
    assert proxy.requests["DeleteObjects"] == 1 and proxy.requests["DELETE"] == 11 + faulted == 12
