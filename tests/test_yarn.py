"""Flink and Spark on YARN, as EMR runs them: the EMR recipes' own commands
(runners/emr/steps-flink.json's session, with_flink_master.sh, the Spark
step through spark_submit_java.sh) with this machine's sizes, on a real YARN
(runners/yarn/cluster.sh: Hadoop's MiniYARNCluster, a ResourceManager and a
NodeManager whose containers are processes here), with PROCESS workers and
the job servers as runners/emr/stage_jars.sh stages them, convert hymenoptera
with a validation split into exactly the local runner's files: TFRecord on
Flink, RecordIO on Spark (the format is the same worker code on any engine).
Each job is also what a user sees of a cluster job: progress lines that
count to the planned total while the shards are written, the summary, no
warning or traceback, and each shard written once.
(These are the PROCESS-worker hymenoptera jobs; tests/test_clusters.py runs
the other environments and the failures on the standalone clusters.)"""

import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import pytest

from pipeline import main
from tests.conftest import HYMENOPTERA
from tests.conftest import assert_progress_grows_to
from tests.conftest import assert_same_files
from tests.conftest import shard_writers
from transforms.progress_records import PLANNED_FILE
from transforms.progress_records import SHARD_RECORD_PREFIX

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
    """The local runner's output for hymenoptera, per record format."""
    outputs = {}
    for record_format in ("tfrecord", "recordio"):
        out = str(tmp_path_factory.mktemp("local") / record_format)
        assert main(["--input", HYMENOPTERA, "--output", out, "--format", record_format, *_FLAGS]) == 0
        outputs[record_format] = out
    return outputs


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


def _pipeline_flags(args, input_path, output, record_format):
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
    return [*out, "--input", input_path, "--output", output, "--validation_ratio", "0.2", "--format", record_format]


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
            _with_local_paths(_step_args("steps-flink.json", 1), jars, yarn),
            HYMENOPTERA,
            str(tmp_path / "out"),
            "tfrecord",
        )
        result = _run_watched(job, yarn, tmp_path / "out")
        # with_flink_master found the session through `yarn application`.
        assert "with-flink-master: Flink session application_" in result.stderr
        _assert_as_the_local_run(result, local_hymenoptera["tfrecord"], tmp_path / "out")
    finally:
        listed = _run(["yarn", "application", "-list", "-appTypes", "Apache Flink"], yarn)
        for line in listed.stdout.splitlines():
            if line.startswith("application_"):
                _run(["yarn", "application", "-kill", line.split()[0]], yarn)


def test_spark_on_yarn_through_spark_submit_as_the_emr_step_runs_matches_local_runner(
    yarn, jars, local_hymenoptera, tmp_path
):
    job = _pipeline_flags(
        _with_local_paths(_step_args("steps-spark.json", 0), jars, yarn),
        HYMENOPTERA,
        str(tmp_path / "out"),
        "recordio",
    )
    env = {**yarn, "BEAM_SPARK_SUBMIT_ARGS": " ".join(_SPARK_SIZES)}
    result = _run_watched(job, env, tmp_path / "out")
    _assert_as_the_local_run(result, local_hymenoptera["recordio"], tmp_path / "out")
    # The executor fetched Beam's runner from the job server, and none of
    # Spark's own jars, which it has (the step's StageWhatSparkLacks; Beam's
    # default shipped 381 jars, 410 MiB, with each job).
    fetched = _jars_fetched_by_executors(result.containers)
    assert any(name.startswith("beam-runners-spark-3-") for name in fetched), sorted(fetched)
    assert not fetched & _spark_jars(), sorted(fetched & _spark_jars())
    assert "guava-33.3.1-android.jar" in fetched  # What Spark's Guava 14 lacks goes with the job.


_FETCHED = re.compile(r"INFO Executor: Fetching spark://\S+/jars/(\S+) ")


def _jars_fetched_by_executors(containers):
    """Names of the jars Spark executors fetched from their driver, from the
    logs of `containers`."""
    fetched = set(_FETCHED.findall(_container_logs(containers)))
    assert fetched, "no executor's log says what it fetched"
    return fetched


def _containers():
    """The YARN containers' folders of logs, of every application so far
    (MiniYARNCluster's <target>/test/data/<name>/<cluster>/<name>-logDir-nm-*;
    a fixed depth: the NodeManager deletes its other folders as containers end)."""
    return set((CACHE / "clusters" / "yarn" / "target").glob("test/data/*/*/*-logDir-*/application_*/container_*"))


def _container_logs(containers):
    """The text of the logs of `containers` (each engine's worker log)."""
    names = ("stderr", "taskmanager.out", "taskmanager.err", "taskmanager.log")
    return "".join(
        (folder / name).read_text(errors="replace")
        for folder in sorted(containers)
        for name in names
        if (folder / name).exists()
    )


def _spark_jars():
    """The jars every executor has: those spark.yarn.jars names (as on EMR,
    Spark's own, on each node)."""
    conf = (CACHE / "clusters" / "yarn" / "spark-conf" / "spark-defaults.conf").read_text()
    (pattern,) = re.findall(r"^spark\.yarn\.jars local:(\S+)$", conf, re.MULTILINE)
    names = {path.name for path in pathlib.Path(pattern).parent.glob("*.jar")}
    assert len(names) > 100, pattern
    return names


# An earlier run's progress record, which must not count as this job's, of a
# shard this job does not write (it stays unless the run removes it).
_PLANTED_RECORD = ".im2tfrecord-progress-train-00000-of-00009.tfrecord.json"
# A shard's file, hidden temporary or progress record, but not the planted one.
_SHARD_OF_THIS_JOB = re.compile(r"(train|validation)-\d{5}-of-0000[0-8]")


def _run_watched(command, env, out):
    """The job's result, with `out` (planted with _PLANTED_RECORD first)
    watched while it runs (`result.watched`), and the YARN containers
    started meanwhile, the job's (`result.containers`)."""
    out.mkdir()
    (out / _PLANTED_RECORD).write_text(json.dumps({"finished": 5000, "images": 5000}))
    before = _containers()
    with _WatchedOutput(str(out)) as watched:
        result = _run(command, env)
    result.watched = watched
    result.containers = _containers() - before
    return result


def _assert_as_the_local_run(result, local, out):
    """The job's output is the local runner's, and the user saw what a job's
    progress should look like; each shard was written once."""
    assert result.returncode == 0, result.stderr[-3000:]
    assert "matched 398 = written 398 + failed 0" in result.stdout
    assert_same_files(local, str(out))  # The planted record removed too.
    # Progress lines that end at the total, never past it, the summary, and
    # no tracebacks or job-server chatter. (The launcher reads every 5 s: a
    # short job may write all its shards between two readings, so its lines
    # are not asked to grow here.)
    assert_progress_grows_to(result.stderr, 398)
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    # What the lines are read from grows while the shards are written, to
    # the total: the sum of the progress records, looked at every 50 ms.
    finished = result.watched.finished
    assert finished == sorted(finished) and finished[-1] == 398, finished
    assert any(0 < n < 398 for n in finished), finished
    # The planned total (what the line counts to) is there before the first
    # shard's file, temporary or progress record: the line has its total
    # while shards are written (on Spark it once came after the job).
    appeared = result.watched.appeared
    shard_times = [at for name, at in appeared.items() if _SHARD_OF_THIS_JOB.search(name)]
    assert shard_times and PLANNED_FILE in appeared, sorted(appeared)
    assert appeared[PLANNED_FILE] <= min(shard_times), sorted(appeared.items(), key=lambda item: item[1])
    # Each shard written once: a retry would name it twice. (Which of the
    # container's SDK workers writes it is Beam's business.)
    writers = shard_writers(_container_logs(result.containers))
    shards = sorted(name for name in os.listdir(out) if name.endswith((".tfrecord", ".rec")))
    assert shards and sorted(writers) == shards, writers
    assert all(len(workers) == 1 for workers in writers.values()), writers


class _WatchedOutput:
    """A local --output looked at every _LOOK_EVERY_S from a thread while the
    `with` block runs: `appeared`, {name: monotonic time it was first seen};
    `finished`, each new sum of the images this job's progress records count
    as finished (what a launcher's line shows, read far more often)."""

    _LOOK_EVERY_S = 0.05

    def __init__(self, folder):
        self._folder = folder
        self.appeared = {}
        self.finished = []
        self._records = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def _watch(self):
        while not self._done.wait(self._LOOK_EVERY_S):
            now = time.monotonic()
            names = os.listdir(self._folder) if os.path.isdir(self._folder) else []
            for name in names:
                self.appeared.setdefault(name, now)
                if name.startswith(SHARD_RECORD_PREFIX) and _SHARD_OF_THIS_JOB.search(name):
                    try:
                        with open(os.path.join(self._folder, name)) as f:
                            self._records[name] = json.load(f)["finished"]
                    except (OSError, ValueError):
                        pass  # Removed, or caught mid-write: read it next time.
            total = sum(self._records.values())
            if self._records and (not self.finished or total != self.finished[-1]):
                self.finished.append(total)
