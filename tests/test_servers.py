"""The test servers' helpers (tests/servers.py): gofakes3 is built once and
reused, and without Go the error says what is missing."""

import os

import boto3
import pytest

from tests import servers


def test_gofakes3_is_built_once_and_serves_s3(tmp_path):
    binary = servers.gofakes3_binary()
    assert os.access(binary, os.X_OK) and binary.startswith(servers._GO_CACHE)
    built = os.stat(binary).st_mtime_ns
    assert servers.gofakes3_binary() == binary and os.stat(binary).st_mtime_ns == built  # Not rebuilt.

    process, endpoint = servers.start_gofakes3_server(tmp_path / "gofakes3.log")
    try:
        # It checks no signatures: any credentials and region do.
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="eu-west-3", aws_access_key_id="a", aws_secret_access_key="b"
        )
        client.create_bucket(Bucket="probe")
        client.put_object(Bucket="probe", Key="k", Body=b"bytes")
        assert client.get_object(Bucket="probe", Key="k")["Body"].read() == b"bytes"
    finally:
        servers.stop_server(process)
    assert process.poll() is not None


def test_without_go_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(servers, "_GO_CACHE", str(tmp_path))
    monkeypatch.setattr(servers, "_GOFAKES3_BIN", str(tmp_path / "bin"))
    monkeypatch.setattr(servers, "_GO_FALLBACKS", ())
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(servers.GoUnavailable, match=r"the Go toolchain \(`go`\) is not on PATH"):
        servers.gofakes3_binary()
