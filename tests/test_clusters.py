"""The pipeline on real standalone Flink and Spark clusters.

The clusters are separate JVMs started by the project's own scripts
(runners/flink/cluster.sh: a JobManager and a TaskManager; runners/spark/
cluster.sh: a master and a worker), the jobs go through the launchers
(runners/*/run.sh) exactly as the README shows, and Beam starts the job server
from the jar runners/job_server.sh assembles. What a run on a cluster must
give is what the local runner gives: the same bytes in every output file.

The local runner's output is made in this process; every cluster run is a
separate process (the launcher), so these comparisons are also determinism
checks across processes.
"""

import os
import re
import subprocess
import sys

import pytest

from pipeline import main
from tests.conftest import ACCESS_KEY
from tests.conftest import HYMENOPTERA
from tests.conftest import NASTY
from tests.conftest import REGION
from tests.conftest import SECRET_KEY
from tests.conftest import download_prefix
from tests.conftest import upload_tree
from tests.fault_proxy import FaultProxy
from tests.records import save_image
from transforms.ownership import RUN_MARKER_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# hymenoptera takes 30-60 s on a cluster here; a stuck job must fail the test.
_JOB_TIMEOUT_S = 600
_START_TIMEOUT_S = 900  # The first start downloads the distributions.
_MASTER_VARIABLE = {"flink": "FLINK_MASTER", "spark": "SPARK_MASTER"}
# A validation split and three shards per split, as a user would ask.
_HYMENOPTERA_FLAGS = ["--num_shards", "3", "--validation_ratio", "0.2"]


def _script(engine, name):
    return os.path.join(ROOT, "runners", engine, name)


def _cluster_pids(engine):
    state = os.path.join(ROOT, ".cache", "clusters", engine)
    pids = []
    for name in os.listdir(state) if os.path.isdir(state) else []:
        if name.endswith(".pid"):
            with open(os.path.join(state, name)) as f:
                pids.append(int(f.read()))
    return pids


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.fixture(scope="module")
def clusters():
    """Both standalone clusters, started once for this module and stopped
    after it, failing the module if anything is left running."""
    env = dict(os.environ, PYTHON=sys.executable)
    addresses, started = {}, []
    try:
        for engine in ("flink", "spark"):
            started.append(engine)
            result = subprocess.run(
                [_script(engine, "cluster.sh"), "start"],
                env=env,
                capture_output=True,
                text=True,
                timeout=_START_TIMEOUT_S,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            addresses[engine] = result.stdout.strip().splitlines()[-1]
        yield addresses
    finally:
        pids = {engine: _cluster_pids(engine) for engine in started}
        for engine in started:
            subprocess.run([_script(engine, "cluster.sh"), "stop"], env=env, timeout=120)
    left = {engine: [pid for pid in pids[engine] if _alive(pid)] for engine in started}
    assert not any(left.values()), f"cluster processes still running after stop: {left}"


def run_on_cluster(clusters, engine, args, environment_type="PROCESS"):
    """The README's command: runners/<engine>/run.sh with the job's flags."""
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        ENVIRONMENT_TYPE=environment_type,
        **{_MASTER_VARIABLE[engine]: clusters[engine]},
    )
    return subprocess.run(
        [_script(engine, "run.sh"), *args], env=env, capture_output=True, text=True, timeout=_JOB_TIMEOUT_S
    )


def assert_same_files(expected_dir, actual_dir):
    expected = sorted(os.listdir(expected_dir))
    assert sorted(os.listdir(actual_dir)) == expected
    assert "dataset_info.json" in expected and any(name.endswith((".tfrecord", ".rec")) for name in expected)
    for name in expected:
        with open(os.path.join(expected_dir, name), "rb") as a, open(os.path.join(actual_dir, name), "rb") as b:
            assert a.read() == b.read(), f"{name} differs from the local runner's"


@pytest.fixture(scope="module")
def local_hymenoptera(tmp_path_factory):
    """The local runner's output for hymenoptera, per record format."""
    outputs = {}
    for record_format in ("tfrecord", "recordio"):
        out = str(tmp_path_factory.mktemp("local") / record_format)
        assert main(["--input", HYMENOPTERA, "--output", out, "--format", record_format, *_HYMENOPTERA_FLAGS]) == 0
        outputs[record_format] = out
    return outputs


@pytest.mark.parametrize("record_format", ["tfrecord", "recordio"])
@pytest.mark.parametrize("environment_type", ["PROCESS", "LOOPBACK"])
@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_hymenoptera_on_cluster_matches_local_runner(
    engine, environment_type, record_format, clusters, local_hymenoptera, tmp_path
):
    out = str(tmp_path / "out")
    result = run_on_cluster(
        clusters,
        engine,
        ["--input", HYMENOPTERA, "--output", out, "--format", record_format, *_HYMENOPTERA_FLAGS],
        environment_type,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "matched 398 = written 398 + failed 0" in result.stdout
    assert_same_files(local_hymenoptera[record_format], out)
    # What a user sees: the summary, and no tracebacks or job-server chatter.
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    assert _tracebacks(result.stderr, environment_type) == [], result.stderr[-3000:]


def _tracebacks(stderr, environment_type):
    """The tracebacks on stderr but one: a LOOPBACK worker runs in the
    launcher's process, and Beam's worker prints (not logs) the traceback of a
    bundle the runner hung up on as the job ended ("Channel closed
    prematurely"; seen on Spark, the job still succeeds)."""
    found = stderr.split("Traceback (most recent call last):")[1:]
    if environment_type == "LOOPBACK":
        found = [text for text in found if "RuntimeError: Channel closed prematurely." not in text]
    return found


@pytest.fixture(scope="module")
def s3_hymenoptera(s3_client, s3_endpoint, tmp_path_factory):
    """hymenoptera on the test S3 server, and the local runner's S3 -> S3 output of it."""
    bucket = "cluster-hymenoptera"
    s3_client.create_bucket(Bucket=bucket)
    assert upload_tree(s3_client, HYMENOPTERA, bucket, "in") == 398
    assert (
        main(
            [
                "--input",
                f"s3://{bucket}/in",
                "--output",
                f"s3://{bucket}/local",
                *_HYMENOPTERA_FLAGS,
                *_s3_flags(s3_endpoint),
            ]
        )
        == 0
    )
    local = str(tmp_path_factory.mktemp("s3-local"))
    download_prefix(s3_client, bucket, "local", local)
    return bucket, local


def _s3_flags(endpoint):
    return [
        f"--s3_endpoint_url={endpoint}",
        f"--s3_access_key_id={ACCESS_KEY}",
        f"--s3_secret_access_key={SECRET_KEY}",
        f"--s3_region_name={REGION}",
    ]


@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_s3_in_and_out_on_cluster_matches_local_runner(
    engine, clusters, s3_hymenoptera, s3_client, s3_endpoint, tmp_path
):
    # PROCESS workers get no pipeline options from Beam: the endpoint and
    # credentials reach them only inside our DoFns' own S3 settings.
    bucket, local = s3_hymenoptera
    result = run_on_cluster(
        clusters,
        engine,
        [
            "--input",
            f"s3://{bucket}/in",
            "--output",
            f"s3://{bucket}/{engine}",
            *_HYMENOPTERA_FLAGS,
            *_s3_flags(s3_endpoint),
        ],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    download_prefix(s3_client, bucket, engine, str(tmp_path))
    assert_same_files(local, str(tmp_path))
    assert SECRET_KEY not in result.stdout + result.stderr


def test_nasty_corpus_on_flink_gives_the_local_error_rows(clusters, tmp_path):
    local, flink = str(tmp_path / "local"), str(tmp_path / "flink")
    assert main(["--input", NASTY, "--output", local, "--num_shards", "2"]) == 0
    result = run_on_cluster(clusters, "flink", ["--input", NASTY, "--output", flink, "--num_shards", "2"])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(local, "errors.jsonl"), "rb") as f:
        local_errors = f.read()
    with open(os.path.join(flink, "errors.jsonl"), "rb") as f:
        assert f.read() == local_errors
    # The corpus is built to fail in dozens of ways: a run that wrote no error
    # rows, or found nothing to write, did not read it.
    assert local_errors.count(b"\n") >= 40
    counts = re.search(r"matched (\d+) = written (\d+) \+ failed (\d+)", result.stdout).groups()
    assert int(counts[1]) >= 400 and int(counts[2]) >= 40, result.stdout


@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_failing_job_on_cluster_ends_in_one_line(engine, clusters, s3_client, s3_endpoint, bucket, tmp_path):
    for n in range(6):
        save_image(str(tmp_path / "src" / "cats" / f"{n}.png"), size=(40 + n, 30), fmt="PNG")
    upload_tree(s3_client, str(tmp_path / "src"), bucket, "in")
    # Shard writes are denied; the launcher's own small writes (its run marker)
    # go through, so the failure happens on the cluster's workers.
    with FaultProxy(
        s3_endpoint,
        period=10**9,
        deny=("PUT", "UploadPart", "CompleteMultipartUpload"),
        deny_keys_ending=(".tfrecord",),
    ) as proxy:
        result = run_on_cluster(
            clusters,
            engine,
            ["--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", *_s3_flags(proxy.endpoint)],
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("im2tfrecord: error: the job failed:"), lines[-20:]
    assert "AccessDenied" in lines[0] and SECRET_KEY not in result.stderr
    # Nothing under a final name; the run marker stays, so a rerun may replace what it left.
    left = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])]
    assert left == ["out/" + RUN_MARKER_FILE]
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
