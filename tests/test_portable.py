"""The pipeline through Beam's portable job API, on EXTERNAL workers in
another process: the path Flink and Spark workers take.

Beam never hands pipeline options to EXTERNAL worker-pool workers, so this
shows that S3 reads and writes work there with only what our DoFns carry, and
that the output equals the local runner's byte for byte (deterministic writer).
The job service is Beam's embedded Python one (`--job_endpoint embed`): the
Flink and Spark job servers are Java jars this machine cannot fetch (README).
"""

import os
import subprocess
import sys

import pytest

from pipeline import main
from tests.conftest import assert_progress_grows_to
from tests.conftest import download_prefix
from tests.records import save_image
from tests.servers import start_local_server
from tests.servers import stop_server

# A dozen images through the portable runner take about 15 s here.
_JOB_TIMEOUT_S = 300


@pytest.fixture
def worker_pool(tmp_path):
    """A Beam SDK worker pool in its own process: no pipeline options reach it."""
    # The pool starts each worker as a bare `python`: make that this interpreter.
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    process, port = start_local_server(
        lambda port: [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        tmp_path / "worker-pool.log",
        {"PATH": path},
    )
    yield f"localhost:{port}"
    stop_server(process)


@pytest.mark.parametrize("writer", ["deterministic", "beam"])
def test_external_workers_read_and_write_s3(writer, worker_pool, s3_client, bucket, s3_flags, tmp_path):
    for label in ("cat", "dog"):
        for n in range(6):
            path = save_image(
                str(tmp_path / "src" / f"{n}.png"),
                size=(40 + n, 30),
                color=(40 * n, 100, 200 if label == "cat" else 20),
                fmt="PNG",
            )
            s3_client.upload_file(path, bucket, f"in/{label}/{n}.png")
    common = [
        "--input",
        f"s3://{bucket}/in",
        "--num_shards",
        "2",
        "--writer",
        writer,
        "--validation_ratio",
        "0.2",
        *s3_flags,
    ]
    assert main([*common, "--output", f"s3://{bucket}/local"]) == 0
    # An earlier run's progress record, which must not count as this job's
    # (the launcher reads its workers' records: progress_records.py), of a
    # shard this job does not write (so it stays unless the run removes it).
    stale = {"Bucket": bucket, "Key": "portable/.im2tfrecord-progress-train-00000-of-00009.tfrecord.json"}
    s3_client.put_object(**stale, Body=b'{"finished": 5000, "images": 5000}')
    # In a child process with a time limit: a worker that cannot start makes
    # the job wait forever, which must fail the test, not hang the suite.
    portable = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            *common,
            "--output",
            f"s3://{bucket}/portable",
            "--runner",
            "PortableRunner",
            "--job_endpoint",
            "embed",
            "--environment_type",
            "EXTERNAL",
            "--environment_config",
            worker_pool,
        ],
        capture_output=True,
        text=True,
        timeout=_JOB_TIMEOUT_S,
    )
    assert portable.returncode == 0, portable.stderr[-3000:]
    if writer == "deterministic":  # --writer beam leaves no progress records.
        assert_progress_grows_to(portable.stderr, 12)

    local = download_prefix(s3_client, bucket, "local", str(tmp_path / "local"))
    portable = download_prefix(s3_client, bucket, "portable", str(tmp_path / "portable"))
    assert local == portable and "dataset_info.json" in local
    if writer == "deterministic":
        for name in local:
            assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "portable" / name).read_bytes(), name
