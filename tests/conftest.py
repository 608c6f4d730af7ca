"""Shared fixtures: a real S3 server over HTTP, image trees, shared data sets."""

import os
import re
import uuid

import boto3
import pytest

from tests.servers import GoUnavailable
from tests.servers import hear_sigint
from tests.servers import start_gofakes3_server
from tests.servers import start_moto_server
from tests.servers import stop_server

# Fixtures defined beside their helpers: `mxnet_python` (a side venv with MXNet).
pytest_plugins = ["tests.mxnet_env"]

# Quiet TensorFlow's C++ start-up chatter in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Commands the tests start (and press Ctrl-C on) hear SIGINT even when the
# run was started in the background by a non-interactive shell.
hear_sigint()

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
HYMENOPTERA = os.path.join(SHARED_DATA, "hymenoptera")
NASTY = os.path.join(SHARED_DATA, "nasty")

# The progress line every command may print to stderr on a long run
# (pipeline/progress.py): not part of what a test asserts of its errors.
_PROGRESS_LINE = re.compile(r"^(converting|uploading|checking): ")


def assert_same_files(expected_dir, actual_dir):
    """The same names in both folders, each with the same bytes: a cluster's
    output against the local runner's."""
    expected = sorted(os.listdir(expected_dir))
    assert sorted(os.listdir(actual_dir)) == expected
    assert "dataset_info.json" in expected and any(name.endswith((".tfrecord", ".rec")) for name in expected)
    for name in expected:
        with open(os.path.join(expected_dir, name), "rb") as a, open(os.path.join(actual_dir, name), "rb") as b:
            assert a.read() == b.read(), f"{name} differs from the local runner's"


# The workers' line for each shard written (transforms/shard_writer.py):
# "wrote SHARD (N images) on WORKER", WORKER a cluster worker's name or
# "HOST pid PID".
_WROTE = re.compile(r"wrote (\S+) \(\d+ images\) on (\S+(?: pid \d+)?)")


def shard_writers(log_text):
    """{shard file: [worker, ...]}, one entry per line of a worker's log
    saying it wrote that shard."""
    writers = {}
    for shard, worker in _WROTE.findall(log_text):
        writers.setdefault(shard, []).append(worker)
    return writers


def stderr_lines(text):
    """The lines of a command's stderr, without its progress lines."""
    return [line for line in text.strip().splitlines() if not _PROGRESS_LINE.match(line)]


def assert_progress_grows_to(stderr, total, min_lines=1):
    """The converter's progress lines on `stderr` (every 5 s in a log, and
    once at the end) count up, never past `total`, and end at it."""
    found = [
        (int(done), int(of) if of else None)
        for done, of in re.findall(r"^converting: (\d+)(?:/(\d+))? files", stderr, re.MULTILINE)
    ]
    assert len(found) >= min_lines, stderr[-3000:]
    done = [d for d, _ in found]
    assert done == sorted(done) and found[-1] == (total, total), found
    assert all(of in (None, total) for _, of in found), found


# Distinctive fake credentials, so tests can grep outputs and logs for leaks.
ACCESS_KEY = "AKIATESTKEYID0000042"
SECRET_KEY = "test-secret-key-DO-NOT-LEAK-9f8e7d"
REGION = "us-east-1"


# The S3 servers, each a real process started once per session. moto's is
# the default (and the one behind fault_proxy.py); gofakes3, a second
# implementation (in Go), checks that the tool does not rely on moto's
# quirks. A test runs against both with @on_both_s3_servers.
S3_SERVERS = ("moto", "gofakes3")
on_both_s3_servers = pytest.mark.parametrize("s3_endpoint", S3_SERVERS, indirect=True)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    process, endpoint = start_moto_server(tmp_path_factory.mktemp("moto") / "moto.log")
    yield endpoint
    stop_server(process)


@pytest.fixture(scope="session")
def gofakes3_endpoint(tmp_path_factory):
    """gofakes3, built from the Go module proxy on first use (cached under
    .cache/go); skipped without Go, which in CI is a failure."""
    try:
        process, endpoint = start_gofakes3_server(tmp_path_factory.mktemp("gofakes3") / "gofakes3.log")
    except GoUnavailable as e:
        pytest.skip(str(e))
    yield endpoint
    stop_server(process)


@pytest.fixture(scope="session")
def s3_endpoint(request):
    """The endpoint of moto's server, or of the one a test is parametrized with."""
    return request.getfixturevalue(f"{getattr(request, 'param', 'moto')}_endpoint")


@pytest.fixture(scope="session")
def s3_client(s3_endpoint):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def bucket(s3_client):
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


def s3_client_settings(endpoint):
    """The settings our S3 client (storage.make_s3_client) takes for a test server."""
    return {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
    }


@pytest.fixture
def s3_settings(s3_endpoint):
    return s3_client_settings(s3_endpoint)


@pytest.fixture
def s3_flags(s3_endpoint):
    """The CLI flags that point Beam and our S3 client at the test server."""
    return [
        f"--s3_endpoint_url={s3_endpoint}",
        f"--s3_access_key_id={ACCESS_KEY}",
        f"--s3_secret_access_key={SECRET_KEY}",
        f"--s3_region_name={REGION}",
    ]


def upload_tree(s3_client, local_root, bucket, prefix):
    """Uploads every file below local_root to s3://bucket/prefix/...; returns the count."""
    count = 0
    for folder, _, files in os.walk(local_root):
        for name in files:
            path = os.path.join(folder, name)
            key = f"{prefix}/{os.path.relpath(path, local_root)}"
            s3_client.upload_file(path, bucket, key)
            count += 1
    return count


def download_prefix(s3_client, bucket, prefix, local_dir):
    """Downloads every object under prefix into local_dir; returns the file names."""
    names = []
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix) + 1 :]
            target = os.path.join(local_dir, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            s3_client.download_file(bucket, item["Key"], target)
            names.append(name)
    return sorted(names)


needs_hymenoptera = pytest.mark.skipif(
    not os.path.isdir(HYMENOPTERA), reason="../shared/data/hymenoptera is not present"
)
needs_nasty = pytest.mark.skipif(not os.path.isdir(NASTY), reason="../shared/data/nasty is not present")


# In CI (CI=true) a skipped test is a failure: a skip there would hide one
# (shared data gone missing, MXNet's environment not built). Only these may
# skip, each with the reason it is not a failure.
SKIPS_ALLOWED_IN_CI = {
    "tests/test_sagemaker.py::test_launch_without_dry_run_sends_the_same_request": (
        "tests the boto3 route, which the launcher takes only where the SageMaker SDK is not installed"
    ),
}


def _in_ci():
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci() and item.nodeid not in SKIPS_ALLOWED_IN_CI and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI, where a skip is a failure unless it is in tests/conftest.py SKIPS_ALLOWED_IN_CI: {reason}"
        )
