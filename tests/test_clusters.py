"""The pipeline on real standalone Flink and Spark clusters.

The clusters are separate JVMs started by the project's own scripts
(runners/flink/cluster.sh: a JobManager and two TaskManagers of one slot;
runners/spark/cluster.sh: a master and two workers of one core), so every job
here is spread over two workers. (Hymenoptera with PROCESS workers, in both
record formats, with the launcher's progress lines and each shard written
once by both workers, is tests/test_yarn.py's: on YARN, as EMR runs it.)
The S3 jobs come last, on workers started again blind to the launcher's
files (and on Flink with a third TaskManager, for a job two are killed in).
The jobs go through the launchers
(runners/*/run.sh) exactly as the README shows, and Beam starts the job server
from the jar runners/job_server.sh assembles. What a run on a cluster must
give is what the local runner gives: the same bytes in every output file.

The local runner's output is made in this process; every cluster run is a
separate process (the launcher), so these comparisons are also determinism
checks across processes.
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from pipeline import main
from tests.conftest import ACCESS_KEY
from tests.conftest import HYMENOPTERA
from tests.conftest import NASTY
from tests.conftest import REGION
from tests.conftest import SECRET_KEY
from tests.conftest import assert_same_files
from tests.conftest import download_prefix
from tests.conftest import shard_writers
from tests.conftest import stderr_lines
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
# Two workers of one slot each: the shape in which a job must use both, and
# in which one can be lost while the other carries on.
_LAYOUT = {"TASKMANAGERS": "2", "SLOTS": "1", "WORKERS": "2", "WORKER_CORES": "1"}
# With 5 MiB parts (storage.py), hymenoptera in two shards of PNG records
# (about 30 MB each) makes multipart uploads of several parts, which a killed
# worker leaves open, and a writing stage long enough to be caught midway.
_PART_MIB = "5"
_KILL_FLAGS = ["--num_shards", "2", "--image_format", "png"]


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
    addresses, started = {"isolate": False}, []
    try:
        for engine in ("flink", "spark"):
            started.append(engine)
            _start_cluster(addresses, engine)
        yield addresses
    finally:
        pids = {engine: _cluster_pids(engine) for engine in started}
        for engine in started:
            subprocess.run([_script(engine, "cluster.sh"), "stop"], env=_cluster_env(addresses), timeout=120)
    left = {engine: [pid for pid in pids[engine] if _alive(pid)] for engine in started}
    assert not any(left.values()), f"cluster processes still running after stop: {left}"


def _cluster_env(clusters):
    env = dict(os.environ, PYTHON=sys.executable, IM2TFRECORD_S3_PART_MIB=_PART_MIB, **_LAYOUT)
    if not clusters["isolate"]:
        return dict(env, ISOLATE_WORKERS="0")
    # A third TaskManager, for a job to end on after two are killed.
    return dict(env, ISOLATE_WORKERS="1", TASKMANAGERS="3")


def _start_cluster(clusters, engine):
    """`cluster.sh start` (which starts what is not running, or everything
    when the isolation changed); the address it prints goes to `clusters`."""
    result = subprocess.run(
        [_script(engine, "cluster.sh"), "start"],
        env=_cluster_env(clusters),
        capture_output=True,
        text=True,
        timeout=_START_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    clusters[engine] = result.stdout.strip().splitlines()[-1]


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


# The local runs the cluster runs are compared with: the default writer and
# the plain one (--writer beam).
_LOCAL_RUNS = {
    "tfrecord": ["--format", "tfrecord"],
    "beam": ["--writer", "beam"],
}


@pytest.fixture(scope="module")
def local_hymenoptera(tmp_path_factory):
    """The local runner's output for hymenoptera, per _LOCAL_RUNS entry."""
    outputs = {}
    for name, flags in _LOCAL_RUNS.items():
        out = str(tmp_path_factory.mktemp("local") / name)
        assert main(["--input", HYMENOPTERA, "--output", out, *flags, *_HYMENOPTERA_FLAGS]) == 0
        outputs[name] = out
    return outputs


def _records_by_split(folder):
    """{split: (its shard files' names, its records' bytes sorted)}."""
    import tensorflow as tf

    found = {}
    for split in ("train", "validation"):
        names = sorted(n for n in os.listdir(folder) if n.startswith(f"{split}-") and n.endswith(".tfrecord"))
        paths = [os.path.join(folder, n) for n in names]
        found[split] = (names, sorted(raw.numpy() for raw in tf.data.TFRecordDataset(paths)))
    return found


@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_plain_beam_writer_on_cluster_writes_every_record_once(engine, clusters, local_hymenoptera, tmp_path):
    """The design's plain form (--writer beam: Beam's WriteToTFRecord with a
    fixed shard count) on a cluster: which shard a record lands in is the
    runner's business, so the check is per split: the same shard files, and
    the same records, each once, as the local run. On EXTERNAL workers:
    cluster.sh started a worker pool (runners/worker_pool.py), the launcher
    finds its address, and the pool starts the SDK workers."""
    local_beam_writer = local_hymenoptera["beam"]
    out = str(tmp_path / "out")
    pool_log = os.path.join(ROOT, ".cache", "clusters", engine, "worker-pool.log")
    pool_log_size = os.path.getsize(pool_log)
    result = run_on_cluster(
        clusters, engine, ["--input", HYMENOPTERA, "--output", out, "--writer", "beam", *_HYMENOPTERA_FLAGS], "EXTERNAL"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(pool_log) as f:
        f.seek(pool_log_size)
        assert "Starting worker with command" in f.read()
    assert "matched 398 = written 398 + failed 0" in result.stdout
    expected, found = _records_by_split(local_beam_writer), _records_by_split(out)
    # Nothing else either: no temporary of Beam's sink left, the same side files.
    assert sorted(os.listdir(out)) == sorted(os.listdir(local_beam_writer))
    for name in ("labels.txt", "errors.jsonl"):
        with open(os.path.join(out, name), "rb") as a, open(os.path.join(local_beam_writer, name), "rb") as b:
            assert a.read() == b.read(), name
    for split in ("train", "validation"):
        names, records = found[split]
        assert names == expected[split][0] and len(names) == 3, (split, names)
        assert records and len(records) == len(set(records)) == len(expected[split][1]), split
        assert records == expected[split][1], f"the {split} split's records differ from the local run's"
    assert len(found["train"][1]) + len(found["validation"][1]) == 398
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    assert info["writer"] == "beam" and info["counts"]["written"] == 398


@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_manifest_on_cluster_gives_the_folder_tree_s_files(engine, clusters, local_hymenoptera, tmp_path):
    # hymenoptera's own files named by a CSV manifest, in scrambled order, with
    # three bad rows among them, read in ranges of 2 KB (about 8 ranges) by
    # the cluster's workers: the same shards, statistics and duplicate report
    # as the folder tree's, and the bad rows with their own line numbers. The
    # workers are LOOPBACK ones (threads of the launcher), the README's way to
    # try a cluster from a laptop.
    manifest = tmp_path / "hymenoptera.csv"
    rows = [(f"{label}/{name}", label) for label in ("ants", "bees") for name in os.listdir(f"{HYMENOPTERA}/{label}")]
    rows.sort(key=lambda row: row[0][::-1])
    # Rows the manifest's own stage rejects (a file that does not exist would
    # take a place in the shards, and fail only when converted).
    bad = {101: ("ants/x.jpg", "an\x07ts"), 202: (rows[0][0], "bees"), 303: ("ants/y.jpg", "")}
    for line in sorted(bad):
        rows.insert(line - 2, bad[line])  # After the header, line n is rows[n - 2].
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows([("path", "label"), *rows])
    assert os.path.getsize(manifest) > 7 * 2048
    out = str(tmp_path / "out")
    flags = ["--manifest", str(manifest), "--input", HYMENOPTERA, "--output", out, "--manifest_range_bytes", "2048"]
    result = run_on_cluster(clusters, engine, [*flags, *_HYMENOPTERA_FLAGS], "LOOPBACK")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "matched 401 = written 398 + failed 3" in result.stdout
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    assert _tracebacks(result.stderr, "LOOPBACK") == [], result.stderr[-3000:]
    with open(os.path.join(out, "errors.jsonl")) as f:
        errors = sorted((row["line"], row["reason"], row["path"]) for row in map(json.loads, f))
    assert errors == [
        (101, "bad_label", f"{HYMENOPTERA}/ants/x.jpg"),
        (202, "repeated_path", f"{HYMENOPTERA}/{rows[0][0]}"),
        (303, "no_label", f"{HYMENOPTERA}/ants/y.jpg"),
    ]
    expected = local_hymenoptera["tfrecord"]
    assert sorted(os.listdir(out)) == sorted(os.listdir(expected))
    for name in os.listdir(expected):
        with open(os.path.join(expected, name), "rb") as a, open(os.path.join(out, name), "rb") as b:
            if name == "errors.jsonl":
                continue
            if name != "dataset_info.json":
                assert a.read() == b.read(), name
                continue
            tree, listed = json.load(a), json.load(b)
            assert (listed.pop("label_from"), listed.pop("manifest")) == ("manifest", str(manifest))
            tree.pop("label_from")
            assert listed.pop("errors")["by_reason"] == {"bad_label": 1, "repeated_path": 1, "no_label": 1}
            assert listed.pop("counts") == {**tree.pop("counts"), "matched": 401, "failed": 3}
            tree.pop("errors")
            assert listed == tree  # Splits, shards' sha256, statistics, duplicates.


# What Beam's worker prints (not logs) of a bundle the runner dropped as the
# job ended, which a LOOPBACK worker, running in the launcher's process, puts
# on its stderr: its data stream hung up ("Channel closed prematurely"), or
# its side input asked for after the runner forgot it ("Unknown process
# bundle instruction id"). Seen on Spark; the job still succeeds, with the
# local runner's bytes.
_DROPPED_BUNDLE = ("RuntimeError: Channel closed prematurely.", "RuntimeError: Unknown process bundle instruction id")


def _tracebacks(stderr, environment_type):
    """The tracebacks on stderr but those of _DROPPED_BUNDLE with LOOPBACK."""
    found = stderr.split("Traceback (most recent call last):")[1:]
    if environment_type == "LOOPBACK":
        found = [text for text in found if not any(dropped in text for dropped in _DROPPED_BUNDLE)]
    return found


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


def _worker_logs(engine):
    """Every log file the cluster's workers (and so their SDK workers) write."""
    state = os.path.join(ROOT, ".cache", "clusters", engine)
    if engine == "flink":
        return [os.path.join(state, name) for name in os.listdir(state) if name.startswith("taskmanager-")]
    found = []
    for folder, _, names in os.walk(os.path.join(state, "work")):
        found += [os.path.join(folder, name) for name in names if name == "stderr"]
    return found


def _log_sizes(engine):
    return {path: os.path.getsize(path) for path in _worker_logs(engine)}


def _shard_writers(engine, sizes_before):
    """{shard file: worker} from the "wrote SHARD (N images) on WORKER" lines
    logged since `sizes_before` (transforms/shard_writer.py)."""
    writers = {}
    for path in _worker_logs(engine):
        with open(path, errors="replace") as f:
            f.seek(sizes_before.get(path, 0))
            for shard, workers in shard_writers(f.read()).items():
                writers.setdefault(shard, set()).update(workers)
    return writers


def _wait_for(predicate, what, timeout_s=_JOB_TIMEOUT_S, process=None):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert process is None or process.poll() is None, f"the job ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.1)


def _start_on_cluster(clusters, engine, args):
    env = dict(os.environ, PYTHON=sys.executable, **{_MASTER_VARIABLE[engine]: clusters[engine]})
    return subprocess.Popen(
        [_script(engine, "run.sh"), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _uploads(s3_client, bucket, prefix):
    """The multipart uploads in progress under `prefix`/ (not another test's)."""
    return s3_client.list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/").get("Uploads", [])


def _flink_running_tasks(clusters):
    """[(attempt, TaskManager resource id)] of the running Flink job's running tasks."""
    base = f"http://{clusters['flink']}/jobs"

    def get(path):
        with urllib.request.urlopen(base + path, timeout=5) as answer:
            return json.load(answer)

    running = [job["jid"] for job in get("/overview")["jobs"] if job["state"] == "RUNNING"]
    tasks = []
    for jid in running:
        for vertex in get(f"/{jid}")["vertices"]:
            if vertex["status"] == "RUNNING":
                subtasks = get(f"/{jid}/vertices/{vertex['id']}")["subtasks"]
                tasks += [(t["attempt"], t["taskmanager-id"]) for t in subtasks if t["status"] == "RUNNING"]
    return tasks


def _kill_a_busy_worker(engine, clusters, retried):
    """SIGKILL a Flink TaskManager running a task (`retried`: a task's second
    attempt or later), with its SDK workers, as a lost node; its resource id.
    On Spark an executor (as the OOM killer would: the oldest running; its
    worker starts a new one)."""
    if engine == "spark":
        executors = _processes_of_this_clone("CoarseGrainedExecutorBackend")
        assert executors, "no Spark executor is running"
        os.kill(executors[0], signal.SIGKILL)
        return None
    numbers = {_flink_task_manager_id(n): n for n in (1, 2, 3)}

    found = []

    def busy():
        found[:] = [tm for attempt, tm in _flink_running_tasks(clusters) if attempt >= retried and tm in numbers]
        return found

    _wait_for(busy, "a running task" + (" retried" if retried else ""))
    chosen = found[0]
    with open(os.path.join(ROOT, ".cache", "clusters", "flink", f"taskmanager-{numbers[chosen]}.pid")) as f:
        os.killpg(int(f.read()), signal.SIGKILL)
    return chosen


def _keys(s3_client, bucket, prefix):
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])]


def _processes_of_this_clone(pattern):
    """Pids of processes whose command line matches `pattern` and names this
    clone (another clone's clusters may run on the same machine)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    pids = []
    for pid in found:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if ROOT.encode() in f.read():
                    pids.append(int(pid))
        except OSError:  # Gone meanwhile.
            pass
    return sorted(pids)


def _job_servers():
    return set(_processes_of_this_clone("job-server-.*jar"))


def test_launcher_killed_mid_write_then_rerun_completes(clusters, local_hymenoptera, tmp_path):
    """On Spark, whose job ends with its launcher. (A Flink job outlives its
    launcher: the test after this one kills a Flink launcher once its job
    runs, before any shard is begun, and checks the job server's end and the
    rerun's cancelling. That only finished shards are under final names
    after a kill mid-write is checked here, on Spark only: the workers write
    and rename shards into place with the same code on both engines.)"""
    engine = "spark"
    out = str(tmp_path / "out")
    args = ["--input", HYMENOPTERA, "--output", out, *_HYMENOPTERA_FLAGS]
    servers_before = _job_servers()
    launcher = _start_on_cluster(clusters, engine, args)
    _wait_for(lambda: any(".inprogress-" in name for name in _names(out)), "shard temporary", process=launcher)
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    # Nothing partial under a final name: each shard there is the finished one.
    reference = local_hymenoptera["tfrecord"]
    for name in _names(out):
        if not name.startswith("."):
            with open(os.path.join(out, name), "rb") as a, open(os.path.join(reference, name), "rb") as b:
                assert a.read() == b.read(), f"{name} is not the finished shard"
    # The job server it started went with it.
    _wait_for(lambda: not _job_servers() - servers_before, "end of the job server", timeout_s=10)
    # The rerun completes, and gives the bytes of an uninterrupted run.
    result = run_on_cluster(clusters, engine, args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_files(reference, out)


def _live_flink_jobs(clusters):
    with urllib.request.urlopen(f"http://{clusters['flink']}/jobs/overview", timeout=5) as answer:
        jobs = json.load(answer)["jobs"]
    return [job for job in jobs if job["state"] not in ("FINISHED", "CANCELED", "FAILED")]


def _flink_task_manager_id(n):
    """TaskManager `n`'s resource id, as its log gives it at start."""
    with open(os.path.join(ROOT, ".cache", "clusters", "flink", f"taskmanager-{n}.log"), errors="replace") as f:
        return re.search(r"ResourceID: (\S+)", f.read()).group(1)


def _flink_task_managers_failed_in_last_job(clusters):
    """The TaskManagers on which the Flink job started last lost tasks (its
    exception history, over Flink's REST API: an entry a failure, with the
    failures that came with it; a failure to find slots names none)."""
    with urllib.request.urlopen(f"http://{clusters['flink']}/jobs/overview", timeout=5) as answer:
        job = max(json.load(answer)["jobs"], key=lambda job: job["start-time"])
    url = f"http://{clusters['flink']}/jobs/{job['jid']}/exceptions?maxExceptions=50"
    with urllib.request.urlopen(url, timeout=5) as answer:
        entries = json.load(answer)["exceptionHistory"]["entries"]
    failures = entries + [failure for entry in entries for failure in entry.get("concurrentExceptions", [])]
    return {failure["taskManagerId"] for failure in failures if failure.get("taskManagerId")}


def test_flink_job_that_outlived_its_launcher_is_cancelled_by_the_rerun(clusters, tmp_path):
    # hymenoptera four times over (links): a job long enough to be still
    # running when the rerun starts, even on a busy machine (with the 398
    # photos alone it once finished first).
    tree = tmp_path / "in"
    for copy in range(4):
        for label in ("ants", "bees"):
            os.makedirs(tree / label, exist_ok=True)
            for name in os.listdir(f"{HYMENOPTERA}/{label}"):
                os.symlink(f"{HYMENOPTERA}/{label}/{name}", tree / label / f"{copy}_{name}")
    local, out = str(tmp_path / "local"), str(tmp_path / "out")
    assert main(["--input", str(tree), "--output", local, *_HYMENOPTERA_FLAGS]) == 0
    args = ["--input", str(tree), "--output", out, *_HYMENOPTERA_FLAGS]
    servers_before = _job_servers()
    launcher = _start_on_cluster(clusters, "flink", args)
    # Killed as soon as its job runs on the cluster: the job has all its work ahead.
    _wait_for(lambda: _live_flink_jobs(clusters), "job on the cluster", process=launcher)
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    [orphan] = _live_flink_jobs(clusters)
    # The job server it started went with it; the job did not.
    _wait_for(lambda: not _job_servers() - servers_before, "end of the job server", timeout_s=10)
    result = run_on_cluster(clusters, "flink", args)
    assert result.returncode == 0, result.stderr[-3000:]
    note = f"im2tfrecord: note: cancelled Flink job {orphan['jid']} of an earlier run, still running on {out}/"
    assert note in result.stderr, result.stderr[-3000:]
    assert_same_files(local, out)
    assert _live_flink_jobs(clusters) == []


def _names(folder):
    return os.listdir(folder) if os.path.isdir(folder) else []


@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_a_failed_job_names_its_stage_and_its_cause(engine, clusters, tmp_path):
    """Made to fail in one stage: manifest labels that mix ids with another
    label stop the job where the classes are decided. The line names that
    stage and the worker's own exception, not the wrapper Beam relays."""
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label\na.jpg,0\nb.jpg,1\nc.jpg,-1\nd.jpg,1\n")
    result = run_on_cluster(clusters, engine, ["--manifest", str(manifest), "--output", str(tmp_path / "out")])
    assert result.returncode == 1, result.stderr[-3000:]
    lines = stderr_lines(result.stderr)  # Progress lines aside.
    assert len(lines) == 1, lines[-20:]
    assert lines[0].startswith(
        "im2tfrecord: error: the job failed: a worker failed in ClassesOfManifest/Decide (ManifestLabelsError: "
        "--manifest line 4: label '-1' is not a class id"
    ), lines[0]


def test_one_class_of_many_rows_on_flink_gives_one_error_row_each(clusters, tmp_path):
    """One class of 30,000 manifest rows (three ranges of its hash to rank;
    files that do not exist, so every row is an error row once planned):
    the Flink job, on the cluster's default memory, writes one read error
    per row, in errors.jsonl's order (its rows sorted)."""
    rows = "".join(f"img/{n:06d}.jpg,only\n" for n in range(30_000))
    (tmp_path / "labels.csv").write_text("path,label\n" + rows)
    out = str(tmp_path / "out")
    result = run_on_cluster(
        clusters, "flink", ["--manifest", str(tmp_path / "labels.csv"), "--validation_ratio", "0.1", "--output", out]
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "no image was written: all 30000 failed" in result.stderr
    expected = []
    for n in range(30_000):
        path = f"{tmp_path}/img/{n:06d}.jpg"
        message = f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'"
        row = {"line": n + 2, "message": message, "path": path, "reason": "read_error", "stage": "read"}
        expected.append(json.dumps(row, sort_keys=True) + "\n")
    with open(os.path.join(out, "errors.jsonl")) as f:
        assert f.read() == "".join(sorted(expected))


def test_a_plan_on_flink_is_the_local_plan_and_leaves_nothing(clusters, tmp_path, capsys):
    """--plan runs on the runner named: its document comes back through a
    hidden temporary in --output, removed once read, with the folder the
    worker made for it."""
    out = str(tmp_path / "out")
    flags = ["--input", HYMENOPTERA, "--output", out, "--plan", *_HYMENOPTERA_FLAGS]
    assert main(flags) == 0
    local = capsys.readouterr().out
    assert "plan for" in local and "estimated output:" in local
    result = run_on_cluster(clusters, "flink", flags)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout[result.stdout.index("plan for") :] == local[local.index("plan for") :]
    assert not os.path.exists(out)


# Workers that share nothing with the launcher. The jobs below read and
# write S3 only, as on EMR, where a worker cannot see the launcher's disk:
# the clusters are started again with their workers in a mount namespace
# whose /tmp is their own (ISOLATE_WORKERS=1, runners/cluster_lib.sh), so the
# launcher's temporary folders and this test's folders are not there for
# them. They come last in this module: every job after the restart runs so.


@pytest.fixture(scope="module")
def isolated(clusters, tmp_path_factory):
    """The clusters, their workers now blind to the launcher's /tmp (checked
    through each worker's own view of the filesystem, /proc/PID/root)."""
    clusters["isolate"] = True
    for engine in ("flink", "spark"):
        _start_cluster(clusters, engine)
    seen_by_us = tmp_path_factory.mktemp("isolation") / "launcher-only"
    seen_by_us.write_text("the launcher's")
    for engine, worker, count in (("flink", "taskmanager", 3), ("spark", "worker", 2)):
        for n in range(1, count + 1):
            with open(os.path.join(ROOT, ".cache", "clusters", engine, f"{worker}-{n}.pid")) as f:
                pid = int(f.read())
            assert os.path.isdir(f"/proc/{pid}/root{ROOT}"), f"{engine} {worker}-{n} cannot see the project"
            assert not os.path.exists(f"/proc/{pid}/root{seen_by_us}"), (
                f"{engine} {worker}-{n} sees the launcher's /tmp"
            )
    return clusters


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
    engine, isolated, s3_hymenoptera, s3_client, s3_endpoint, tmp_path
):
    # PROCESS workers get no pipeline options from Beam: the endpoint and
    # credentials reach them only inside our DoFns' own S3 settings.
    bucket, local = s3_hymenoptera
    result = run_on_cluster(
        isolated,
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


def test_failing_job_on_cluster_ends_in_one_line(isolated, s3_client, s3_endpoint, bucket, tmp_path):
    """Shard writes denied on a Flink job: one line, and nothing left on S3.
    (That a worker's failure reaches the launcher as one line is checked on
    both engines by test_a_failed_job_names_its_stage_and_its_cause; what a
    failed shard leaves is the workers' own code, the same on both.)"""
    engine = "flink"
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
            isolated,
            engine,
            ["--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", *_s3_flags(proxy.endpoint)],
        )
    assert result.returncode == 1
    lines = stderr_lines(result.stderr)  # Progress lines aside.
    assert len(lines) == 1 and lines[0].startswith("im2tfrecord: error: the job failed:"), lines[-20:]
    assert "AccessDenied" in lines[0] and SECRET_KEY not in result.stderr
    # Nothing under a final name; the run marker stays, so a rerun may replace what it left.
    left = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])]
    assert left == ["out/" + RUN_MARKER_FILE]
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.fixture(scope="module")
def s3_reference(s3_client, s3_endpoint, tmp_path_factory):
    """hymenoptera on S3, and the local runner's S3 -> S3 output of it with _KILL_FLAGS."""
    bucket = "cluster-kills"
    s3_client.create_bucket(Bucket=bucket)
    assert upload_tree(s3_client, HYMENOPTERA, bucket, "in") == 398
    flags = ["--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/local", *_KILL_FLAGS]
    assert main([*flags, *_s3_flags(s3_endpoint)]) == 0
    local = str(tmp_path_factory.mktemp("kills-local"))
    download_prefix(s3_client, bucket, "local", local)
    return bucket, local


@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_worker_killed_twice_mid_write_job_still_gives_the_same_bytes(
    engine, isolated, s3_reference, s3_client, s3_endpoint, tmp_path
):
    """A worker killed while the first shard upload is under way, and another
    once a shard written again has begun its own upload: on Flink the
    TaskManager running a task each time (the second, one running a task's
    retry; the job ends on the third), on Spark an executor each time (its
    worker starts a new one)."""
    bucket, local = s3_reference
    prefix = f"killed-{engine}"
    sizes = _log_sizes(engine)
    flags = ["--input", f"s3://{bucket}/in", "--output", f"s3://{bucket}/{prefix}", *_KILL_FLAGS]
    job = _start_on_cluster(isolated, engine, [*flags, *_s3_flags(s3_endpoint)])
    killed = []
    try:
        # Mid-write: a shard's multipart upload has begun and none is complete.
        _wait_for(lambda: _uploads(s3_client, bucket, prefix), "shard upload", process=job)
        assert not any(key.endswith(".tfrecord") for key in _keys(s3_client, bucket, prefix))
        begun = {upload["UploadId"] for upload in _uploads(s3_client, bucket, prefix)}
        killed.append(_kill_a_busy_worker(engine, isolated, retried=False))
        # Mid-write again: an upload begun since, by a shard written again.
        _wait_for(
            lambda: {upload["UploadId"] for upload in _uploads(s3_client, bucket, prefix)} - begun,
            "shard upload after the first kill",
            process=job,
        )
        killed.append(_kill_a_busy_worker(engine, isolated, retried=True))
        _, stderr = job.communicate(timeout=_JOB_TIMEOUT_S)
        writers = _shard_writers(engine, sizes)  # Before the restart below starts new logs.
        # Both kills took work down (tasks elsewhere that read what the
        # killed ones kept may fail too).
        lost_on = _flink_task_managers_failed_in_last_job(isolated) if engine == "flink" else None
    finally:
        job.kill()
        # The next test gets both workers again (a no-op for Spark, whose
        # worker starts a new executor).
        _start_cluster(isolated, engine)
    assert job.returncode == 0, stderr[-3000:]
    # Flink's exception history may put the first kill's failure on the other
    # TaskManager (whose tasks failed with their partner's): seen three runs
    # in a row on 7 December 2026, on commits that had passed before. Both
    # kills took work down when two TaskManagers lost tasks, one of them the
    # one killed last.
    assert engine != "flink" or (killed[-1] in lost_on and len(lost_on) >= len(killed)), (killed, lost_on)
    download_prefix(s3_client, bucket, prefix, str(tmp_path))
    assert_same_files(local, str(tmp_path))
    assert _uploads(s3_client, bucket, prefix) == []  # The dead workers' uploads, aborted.
    # Every record exactly once: the byte-identical shards say so. A shard
    # may be completed twice: once by a worker killed after it, whose output
    # went with it, then by the retry (seen on Flink), with the same bytes.
    assert sorted(writers) == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"], writers
