"""Flink and Spark on YARN, as EMR runs them: the EMR recipes' own commands
(runners/emr/steps-flink.json's session, with_flink_master.sh, the Spark
step through spark_submit_java.sh) with this machine's sizes, on a real YARN
(runners/yarn/cluster.sh: Hadoop's MiniYARNCluster, a ResourceManager and a
NodeManager whose containers are processes here), with PROCESS workers and
the job servers as runners/emr/stage_jars.sh stages them, convert hymenoptera
with a validation split into exactly the local runner's files.

Not part of `make test` (about five minutes: each job ships its job server's
class path to YARN containers started for it): `make test-emr`."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from pipeline import main
from tests.conftest import HYMENOPTERA
from tests.test_clusters import assert_same_files

ROOT = pathlib.Path(__file__).resolve().parent.parent
EMR = ROOT / "runners" / "emr"
CACHE = pathlib.Path(os.environ.get("IM2TFRECORD_CACHE", ROOT / ".cache"))
_FLAGS = ["--num_shards", "3", "--validation_ratio", "0.2"]
# A job here takes 2 to 3 minutes; a stuck one must fail the test.
_JOB_TIMEOUT_S = 900
# The EMR step's sizes are a 64 GiB node's (runners/emr/README.md, "Sizing");
# this machine's YARN node has 12 GiB and 2 cores.
_SESSION_SIZES = {"-jm": "1024m", "-tm": "2048m", "-s": "2"}
_SESSION_SETTINGS = {"taskmanager.memory.task.off-heap.size": "256m"}
_SPARK_SIZES = [
    *("--conf", "spark.executor.instances=1", "--conf", "spark.executor.cores=2"),
    *("--conf", "spark.executor.memory=1g", "--conf", "spark.executor.memoryOverhead=1g"),
    *("--conf", "spark.default.parallelism=2"),
]


@pytest.fixture(scope="module")
def yarn():
    """PATH with the YARN node's commands first (yarn, flink-yarn-session,
    spark-submit, sdk-worker); YARN is stopped after the module."""
    started = subprocess.run(
        [str(ROOT / "runners" / "yarn" / "cluster.sh"), "start"], capture_output=True, text=True, timeout=600
    )
    assert started.returncode == 0, started.stderr[-3000:]
    bin_dir = started.stdout.strip().splitlines()[-1]
    try:
        yield {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    finally:
        subprocess.run([str(ROOT / "runners" / "yarn" / "cluster.sh"), "stop"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def jars():
    """The job servers under the names the EMR steps use (stage_jars.sh)."""
    out = CACHE / "emr-jars"
    staged = subprocess.run([str(EMR / "stage_jars.sh"), str(out)], capture_output=True, text=True, timeout=900)
    assert staged.returncode == 0, staged.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def local_hymenoptera(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("local") / "out")
    assert main(["--input", HYMENOPTERA, "--output", out, *_FLAGS]) == 0
    return out


def _step_args(name, index):
    return json.loads((EMR / name).read_text())[index]["HadoopJarStep"]["Args"]


def _with_local_paths(args, jars, env):
    """An EMR step's im2tfrecord arguments with this machine's input, jars,
    worker command and python in place of the cluster's."""
    replace = {
        "/opt/im2tfrecord/jars/flink/job-server.jar": str(jars / "flink" / "job-server.jar"),
        "/opt/im2tfrecord/jars/spark/job-server.jar": str(jars / "spark" / "job-server.jar"),
        "/opt/im2tfrecord/bin/spark-submit-java": str(EMR / "spark_submit_java.sh"),
        "/opt/im2tfrecord/bin/with-flink-master": str(EMR / "with_flink_master.sh"),
        "/opt/im2tfrecord/venv/bin/python3": sys.executable,
    }
    worker = os.path.join(env["PATH"].split(os.pathsep)[0], "sdk-worker")
    out = [replace.get(arg, arg.replace("/opt/im2tfrecord/bin/sdk-worker", worker)) for arg in args]
    # Sizes and parallelism for 2 cores.
    for flag, value in (("--parallelism", "2"), ("--sdk_worker_parallelism", "2"), ("--num_shards", "3")):
        if flag in out:
            out[out.index(flag) + 1] = value
    return out


def _pipeline_flags(args, input_path, output):
    """The step's command with --input/--output here, its S3 flags left out."""
    out, skip = [], 0
    for arg in args:
        if skip:
            skip -= 1
            continue
        if arg in ("--input", "--output", "--s3_region_name"):
            skip = 1
            continue
        out.append(arg)
    return [*out, "--input", input_path, "--output", output, "--validation_ratio", "0.2"]


def _run(command, env):
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=_JOB_TIMEOUT_S)


def test_flink_yarn_session_as_the_emr_steps_start_it_matches_local_runner(yarn, jars, local_hymenoptera, tmp_path):
    session = _step_args("steps-flink.json", 0)
    for flag, value in _SESSION_SIZES.items():
        session[session.index(flag) + 1] = value
    session = [
        f"-D{key}={_SESSION_SETTINGS[key]}"
        if arg.startswith("-D") and (key := arg[2:].split("=")[0]) in _SESSION_SETTINGS
        else arg
        for arg in session
    ]
    started = _run(session, yarn)
    assert started.returncode == 0, (started.stdout + started.stderr)[-3000:]
    try:
        job = _pipeline_flags(
            _with_local_paths(_step_args("steps-flink.json", 1), jars, yarn), HYMENOPTERA, str(tmp_path / "out")
        )
        result = _run(job, yarn)
        assert result.returncode == 0, result.stderr[-3000:]
        # with_flink_master found the session through `yarn application`.
        assert "with-flink-master: Flink session application_" in result.stderr
        assert "matched 398 = written 398 + failed 0" in result.stdout
        assert_same_files(local_hymenoptera, str(tmp_path / "out"))
    finally:
        listed = _run(["yarn", "application", "-list", "-appTypes", "Apache Flink"], yarn)
        for line in listed.stdout.splitlines():
            if line.startswith("application_"):
                _run(["yarn", "application", "-kill", line.split()[0]], yarn)


def test_spark_on_yarn_through_spark_submit_as_the_emr_step_runs_matches_local_runner(
    yarn, jars, local_hymenoptera, tmp_path
):
    job = _pipeline_flags(
        _with_local_paths(_step_args("steps-spark.json", 0), jars, yarn), HYMENOPTERA, str(tmp_path / "out")
    )
    env = {**yarn, "BEAM_SPARK_SUBMIT_ARGS": " ".join(_SPARK_SIZES)}
    result = _run(job, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "matched 398 = written 398 + failed 0" in result.stdout
    assert_same_files(local_hymenoptera, str(tmp_path / "out"))
