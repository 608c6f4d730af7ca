"""runners/emr: every config parses, every im2tfrecord command in the steps and
the README is one our CLI accepts, and the helpers do what those commands rely
on. All offline: EMR's API model comes with botocore, and stand-ins replace
`yarn` and `spark-submit`."""

import fnmatch
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import textwrap
import threading
import time

import apache_beam
import botocore.session
import grpc
import pytest
from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.options.pipeline_options import JobServerOptions
from apache_beam.options.pipeline_options import PortableOptions
from apache_beam.options.pipeline_options import SparkRunnerOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo
from apache_beam.runners.portability.spark_runner import SparkJarJobServer
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.transforms import environments
from botocore.validate import ParamValidator
from google.protobuf import struct_pb2

from pipeline.convert import main as cli
from pipeline.convert.options import ConvertOptions

EMR = pathlib.Path(__file__).resolve().parent.parent / "runners" / "emr"
PREFIX = "/opt/im2tfrecord"  # Where bootstrap.sh installs everything.
STEP_FILES = {"steps-flink.json": "FlinkRunner", "steps-spark.json": "SparkRunner"}
BEAM_VERSION = apache_beam.__version__
# Where bootstrap.sh installs the job servers stage_jars.sh staged, whatever
# their version (runners/job_server.sh decides it).
JOB_SERVER_JARS = {
    "FlinkRunner": f"{PREFIX}/jars/flink/job-server.jar",
    "SparkRunner": f"{PREFIX}/jars/spark/job-server.jar",
}
# What with-flink-master appends to the command it wraps (see its test below).
FLINK_MASTER_FLAG = "--flink_master=ip-10-0-0-7.ec2.internal:40123"
_EMR_API = botocore.session.get_session().get_service_model("emr")


# --- helpers -------------------------------------------------------------

_WRAPPERS = ("env", "with-flink-master")


def pipeline_args(command):
    """The im2tfrecord arguments of a command (a list of words), or None when
    the command does not run im2tfrecord. with-flink-master's address counts."""
    i = 0  # Past VAR=value words and wrappers, to the program itself.
    while i < len(command) and (re.match(r"^\w+=", command[i]) or os.path.basename(command[i]) in _WRAPPERS):
        i += 1
    program, rest = (command[i], command[i + 1 :]) if i < len(command) else ("", [])
    if os.path.basename(program) == "im2tfrecord":
        args = rest
    elif re.match(r"^python3?(\.\d+)?$", os.path.basename(program)) and rest[:2] == ["-m", "pipeline"]:
        args = rest[2:]
    else:
        return None
    wrapped = any(os.path.basename(word) == "with-flink-master" for word in command[:i])
    return args + [FLINK_MASTER_FLAG] if wrapped else args


def readme_commands(markdown):
    """The commands of the fenced sh/bash blocks, as word lists, with
    backslash-newline continuations joined."""
    commands = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", markdown, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def step_commands(name):
    return [step["HadoopJarStep"]["Args"] for step in json.loads((EMR / name).read_text())]


def parse(args):
    """As the CLI parses them: raises pipeline.convert.preflight.UsageError on unknown flags."""
    return cli._parse(cli._parser(), args)


def check_command(args, runner):
    """The cluster-side facts every EMR command must get right."""
    options = parse(args)
    convert = options.view_as(ConvertOptions)
    assert convert.input.startswith("s3://") and convert.output.startswith("s3://"), args
    assert options.view_as(StandardOptions).runner == runner
    environment = environments.Environment.from_options(options.view_as(PortableOptions))
    assert isinstance(environment, environments.ProcessEnvironment)
    assert environment.command == f"{PREFIX}/bin/sdk-worker"
    if runner == "FlinkRunner":
        flink = options.view_as(FlinkRunnerOptions)
        assert flink.flink_master not in ("[auto]", "[local]")
        assert flink.flink_job_server_jar == JOB_SERVER_JARS[runner]
        # Every exchange written out first: a job that loses a TaskManager
        # restarts on the slots that are left (docs/clusters.md, "Workers and failures").
        # (A Java-side option: Beam's Python parser passes it through unparsed.)
        assert args[args.index("--execution_mode_for_batch") + 1] == "BATCH_FORCED"
    else:
        spark = options.view_as(SparkRunnerOptions)
        assert spark.spark_master_url == "yarn"
        assert spark.spark_job_server_jar == JOB_SERVER_JARS[runner]
        assert options.view_as(JobServerOptions).job_server_java_launcher == (f"{PREFIX}/bin/spark-submit-java")
        # Each SDK worker kept for the job: else Beam's Spark runner starts
        # Python for every task (159 s against 52 s on the YARN here).
        assert int(options.view_as(PortableOptions).environment_cache_millis) > 0
        # Only what Spark's own jars lack goes with the job, chosen by a class
        # of runners/job_server/java (which stage_jars.sh puts beside the jar).
        detector = args[args.index("--pipeline_resources_detector_factory_class") + 1]
        assert detector == "im2tfrecord.StageWhatSparkLacks"
        assert (EMR.parent / "job_server" / "java" / "im2tfrecord" / "StageWhatSparkLacks.java").exists()
    return options


def fake_command(folder, name, script):
    path = folder / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(0o755)
    return path


def run_helper(script, args, path_dir, **env):
    return subprocess.run(
        [str(EMR / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{path_dir}{os.pathsep}{os.environ['PATH']}", **env},
    )


# --- syntax --------------------------------------------------------------


def test_every_json_file_loads():
    names = {path.name for path in EMR.glob("*.json")}
    assert names >= {"steps-flink.json", "steps-spark.json", "cluster.json"}
    for name in names:
        json.loads((EMR / name).read_text())


SCRIPTS = sorted(path.name for path in EMR.glob("*.sh"))


def test_every_script_is_here():
    assert set(SCRIPTS) >= {"bootstrap.sh", "with_flink_master.sh", "spark_submit_java.sh"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_shell_scripts_are_valid_bash(script):
    path = EMR / script
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(path, os.X_OK)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_steps_match_the_emr_api():
    shape = _EMR_API.operation_model("AddJobFlowSteps").input_shape
    for name in STEP_FILES:
        steps = json.loads((EMR / name).read_text())
        report = ParamValidator().validate({"JobFlowId": "j-TEST", "Steps": steps}, shape)
        assert not report.has_errors(), report.generate_report()
        for step in steps:
            assert step["ActionOnFailure"] in _EMR_API.shape_for("ActionOnFailure").enum
            assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"


def test_cluster_matches_the_emr_api():
    cluster = json.loads((EMR / "cluster.json").read_text())
    report = ParamValidator().validate(cluster, _EMR_API.operation_model("RunJobFlow").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert {app["Name"] for app in cluster["Applications"]} == {"Flink", "Spark"}
    # The release's Flink (the README's table of releases) is the minor the
    # Flink job server is built for (runners/job_server.sh's runner module).
    release = cluster["ReleaseLabel"].removeprefix("emr-")
    flink = emr_releases()[release]
    assert flink.rsplit(".", 1)[0] == job_server_flink_minor(), (release, flink)
    (action,) = cluster["BootstrapActions"]
    assert action["ScriptBootstrapAction"]["Path"].endswith("/bootstrap.sh")
    assert action["ScriptBootstrapAction"]["Args"][0] == "--package"


# --- commands ------------------------------------------------------------


@pytest.mark.parametrize("name,runner", sorted(STEP_FILES.items()))
def test_step_commands_are_valid_im2tfrecord_runs(name, runner):
    runs = [pipeline_args(args) for args in step_commands(name) if pipeline_args(args) is not None]
    assert runs, f"{name} runs no im2tfrecord command"
    for args in runs:
        check_command(args, runner)


def test_flink_steps_start_the_session_before_the_job():
    first, *rest = step_commands("steps-flink.json")
    assert first[:2] == ["flink-yarn-session", "-d"]
    assert pipeline_args(rest[-1]) is not None
    assert os.path.basename(rest[-1][0]) == "with-flink-master"


def test_readme_commands_are_valid_im2tfrecord_runs():
    runs = [args for args in map(pipeline_args, readme_commands((EMR / "README.md").read_text())) if args is not None]
    runners = []
    for args in runs:
        runner = parse(args).view_as(StandardOptions).runner
        assert runner in ("FlinkRunner", "SparkRunner"), args
        check_command(args, runner)
        runners.append(runner)
    assert sorted(runners) == ["FlinkRunner", "FlinkRunner", "SparkRunner"]


def test_readme_command_extraction_joins_continuations():
    text = "```sh\n# a comment\nim2tfrecord --input s3://b/i \\\n    --output 's3://b/o x'\nls\n```\n"
    assert readme_commands(text) == [["im2tfrecord", "--input", "s3://b/i", "--output", "s3://b/o x"], ["ls"]]
    assert pipeline_args(readme_commands(text)[0]) == ["--input", "s3://b/i", "--output", "s3://b/o x"]


def test_bootstrap_installs_what_the_steps_name():
    text = (EMR / "bootstrap.sh").read_text()
    assert f"BEAM_VERSION={BEAM_VERSION}" in text
    # The job servers under the names the steps use, whatever stage_jars.sh staged.
    assert '"$work/jars/$engine/job-server.jar"' in text and "VERSIONS" in text
    assert f'PREFIX="${{IM2TFRECORD_PREFIX:-{PREFIX}}}"\n' in text
    assert '"$PREFIX/bin/sdk-worker"' in text and "lib/sdk_worker.py" in text
    for helper in ("with_flink_master", "spark_submit_java"):  # installed as bin/with-flink-master, ...
        assert helper in text
    assert 'sudo install -m 755 "$work/$name.sh" "$PREFIX/bin/${name//_/-}"' in text


def emr_releases():
    """EMR release -> its Flink version, from runners/emr/README.md "Releases"."""
    rows = re.findall(r"^\| (7\.\d+\.\d+)(?: and later)? \| (1\.\d+\.\d+)", (EMR / "README.md").read_text(), re.M)
    assert rows, "no table of releases in runners/emr/README.md"
    return dict(rows)


def job_server_flink_minor():
    """The Flink minor of the runner module runners/job_server.sh builds on."""
    (minor,) = re.findall(r'module="beam-runners-flink-(\d+\.\d+)"', (EMR.parent / "job_server.sh").read_text())
    return minor


def test_no_job_server_version_is_written_in_the_recipes():
    # job_server.sh decides the jars (published at the SDK's version, or
    # assembled); stage_jars.sh gives them fixed names. A version written
    # anywhere else is a path the uploaded folder may not hold.
    versioned = re.compile(r"job-server-\d|jars/(?:flink|spark)-\d")
    for path in sorted(EMR.iterdir()):
        if path.suffix in (".json", ".sh", ".md", ".py") and path.name != "stage_jars.sh":
            hits = [line for line in path.read_text().splitlines() if versioned.search(line)]
            assert not hits, (path.name, hits)


def test_stage_jars_gives_runnable_job_servers_under_fixed_names(tmp_path):
    out = tmp_path / "jars"
    result = subprocess.run([str(EMR / "stage_jars.sh"), str(out)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    flink, spark = (out / "VERSIONS").read_text().splitlines()
    assert re.fullmatch(rf"flink beam-runners-flink-.+-job-server-.+\.jar flink-{job_server_flink_minor()}", flink)
    assert re.fullmatch(r"spark beam-runners-spark-3-job-server-.+\.jar", spark)
    for engine, driver in (("flink", "FlinkJobServerDriver"), ("spark", "SparkJobServerDriver")):
        # As Beam starts it: java -jar on the file, here under its staged name.
        ran = subprocess.run(
            ["java", "-jar", str(out / engine / "job-server.jar"), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"Usage: java {driver}" in ran.stdout + ran.stderr, (ran.stdout + ran.stderr)[-2000:]


def test_flink_session_restarts_as_the_standalone_cluster_does():
    # One restart strategy on both: the standalone cluster's flink-conf
    # (runners/flink/cluster.sh, whose failure tests prove it) and the EMR session.
    # The 5 s between attempts presumes heartbeats every 2 s (a dead
    # TaskManager known within 4 s): both go together.
    keys = r"(?:restart-strategy[\w.-]*|heartbeat\.[\w.-]+)"
    conf = dict(re.findall(rf"^({keys}): (.+)$", (EMR.parent / "flink" / "cluster.sh").read_text(), re.M))
    session = step_commands("steps-flink.json")[0]
    given = dict(arg.removeprefix("-D").split("=", 1) for arg in session if re.match(rf"-D{keys}=", arg))
    assert "heartbeat.interval" in conf
    assert conf and given == conf


def _readme_layout(instance):
    """The row of runners/emr/README.md's layout table for `instance`."""
    for line in (EMR / "README.md").read_text().splitlines():
        if line.startswith(f"| {instance}"):
            return line
    raise AssertionError(f"no layout for {instance} in runners/emr/README.md")


def _mib(text):
    number, unit = re.fullmatch(r"(\d+)([mg])", text).groups()
    return int(number) * (1024 if unit == "g" else 1)


def test_the_shipped_layout_fits_the_nodes_yarn_memory():
    cluster = json.loads((EMR / "cluster.json").read_text())
    core = next(g for g in cluster["Instances"]["InstanceGroups"] if g["InstanceRole"] == "CORE")
    row = _readme_layout(core["InstanceType"])
    vcpus, yarn_mb = (int(x) for x in re.match(r"\|[^|]+\| (\d+) \| (\d+) \|", row).groups())
    nodes = core["InstanceCount"]
    # Flink: one TaskManager a node, a slot per vCPU; the JobManager's
    # container fits beside it on one node; the Python workers' reserve.
    session = step_commands("steps-flink.json")[0]
    flag = {session[i]: session[i + 1] for i in range(len(session) - 1) if session[i] in ("-jm", "-tm", "-s")}
    flink_options = parse(pipeline_args(step_commands("steps-flink.json")[1]))
    slots = int(flag["-s"])
    assert slots == vcpus
    assert _mib(flag["-tm"]) + _mib(flag["-jm"]) <= yarn_mb
    off_heap = next(a for a in session if a.startswith("-Dtaskmanager.memory.task.off-heap.size="))
    assert _mib(off_heap.split("=")[1]) >= slots * 1024 * 3 // 4
    assert f"-s {slots} -tm {flag['-tm']}" in row and f"off-heap {off_heap.split('=')[1]}" in row
    assert flink_options.view_as(FlinkRunnerOptions).parallelism == nodes * slots
    assert int(flink_options.view_as(PortableOptions).sdk_worker_parallelism) == slots
    # Spark: executors of spark.executor.cores fill the vCPUs; their
    # containers (memory + overhead) and the client-mode application
    # master (1 GiB) fit the node.
    spark = cluster["Configurations"][0]["Properties"]
    cores = int(spark["spark.executor.cores"])
    executors = vcpus // cores
    container = _mib(spark["spark.executor.memory"]) + _mib(spark["spark.executor.memoryOverhead"])
    assert executors * cores == vcpus and executors * container + 1024 <= yarn_mb
    assert int(spark["spark.default.parallelism"]) == nodes * vcpus
    assert f"memory {spark['spark.executor.memory']} + overhead {spark['spark.executor.memoryOverhead']}" in row
    spark_options = parse(pipeline_args(step_commands("steps-spark.json")[0]))
    assert int(spark_options.view_as(PortableOptions).sdk_worker_parallelism) == cores


def test_policy_covers_every_bucket_path_the_recipes_name():
    policy = json.loads((EMR / "policy.json").read_text())
    cluster = json.loads((EMR / "cluster.json").read_text())
    text = json.dumps([cluster, *(json.loads((EMR / name).read_text()) for name in STEP_FILES)])
    allowed = [
        (action, resource)
        for statement in policy["Statement"]
        for action in statement["Action"]
        for resource in [statement["Resource"]]
    ]

    def may(action, key):
        return any(
            a == action and fnmatch.fnmatchcase(f"YOUR-BUCKET/{key}", r.removeprefix("arn:aws:s3:::"))
            for a, r in allowed
        )

    paths = set(re.findall(r"s3://YOUR-BUCKET/([^\"]*)", text))
    assert paths >= {"images", "tfrecords", "emr/bootstrap.sh", "emr-logs/"}
    for path in paths:
        key = path + "x" if path.endswith("/") else path + "/x"
        if path.startswith("emr-logs"):
            assert may("s3:PutObject", key), path  # EMR writes the logs.
        elif path.startswith("emr"):
            assert may("s3:GetObject", path if "." in path.rsplit("/", 1)[-1] else key), path
        elif path.startswith("tfrecords"):
            for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
                assert may(action, key), (action, path)
        else:
            assert may("s3:GetObject", key), path
    (listing,) = [s for s in policy["Statement"] if "s3:ListBucket" in s["Action"]]
    # No prefix condition: the launcher's HeadBucket checks need s3:ListBucket
    # with no prefix, and ListBucketMultipartUploads has no prefix key.
    assert listing["Resource"] == "arn:aws:s3:::YOUR-BUCKET" and "Condition" not in listing
    assert "s3:ListBucketMultipartUploads" in listing["Action"]  # The launcher aborts dead workers' uploads.


# --- helpers at work -----------------------------------------------------

_YARN_WITH_SESSIONS = """\
if [ "$2" = "-list" ]; then
  printf 'Total number of applications (application-types: [Apache Flink]):\\n'
  printf '                Application-Id\\t    Application-Name\\t    Application-Type\\n'
  for app in $SESSIONS; do
    printf '%s\\t         im2tfrecord\\t        Apache Flink\\n' "$app"
  done
else
  printf 'Application Report : \\n\\tApplication-Id : %s\\n\\tRPC Port : %s\\n\\tAM Host : %s\\n' \\
    "$3" "$PORT" ip-10-0-0-7.ec2.internal
fi
"""


def test_with_flink_master_appends_the_sessions_rest_address(tmp_path):
    fake_command(tmp_path, "yarn", _YARN_WITH_SESSIONS)
    result = run_helper(
        "with_flink_master.sh",
        ["printf", "%s\\n", "a", "b c"],
        tmp_path,
        SESSIONS="application_1700000000000_0003",
        PORT="40123",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a", "b c", FLINK_MASTER_FLAG]


@pytest.mark.parametrize(
    "sessions,port,message",
    [
        ("", "40123", "found 0"),
        ("application_1_0001 application_1_0002", "40123", "found 2"),
        ("application_1_0001", "-1", "registered no REST address"),
    ],
)
def test_with_flink_master_refuses_to_guess(tmp_path, sessions, port, message):
    fake_command(tmp_path, "yarn", _YARN_WITH_SESSIONS)
    result = run_helper(
        "with_flink_master.sh", ["echo", "ran"], tmp_path, SESSIONS=sessions, PORT=port, WITH_FLINK_MASTER_POLL_S="0"
    )
    assert result.returncode == 1
    assert "ran" not in result.stdout
    assert message in result.stderr


def test_spark_submit_java_runs_beams_job_server_command_under_spark_submit(tmp_path):
    (args,) = [pipeline_args(a) for a in step_commands("steps-spark.json") if pipeline_args(a)]
    jar = tmp_path / "job-server.jar"
    jar.write_bytes(b"")
    # An assembled job server's Guava, which must come before Spark's own,
    (tmp_path / "lib").mkdir()
    guava = tmp_path / "lib" / "guava-33.3.1-android.jar"
    guava.write_bytes(b"")
    # And the class the step chooses the jars to ship with (StageWhatSparkLacks).
    staging = tmp_path / "lib" / "im2tfrecord-staging.jar"
    staging.write_bytes(b"")
    options = parse(args + ["--spark_job_server_jar", str(jar), "--artifacts_dir", str(tmp_path)])
    # The very command Beam's SparkRunner starts its job server with (its
    # SubprocessServer turns every word into a string).
    command = [str(word) for word in SparkJarJobServer(options).subprocess_cmd_and_endpoint()[0]]
    assert command[0] == f"{PREFIX}/bin/spark-submit-java"
    fake_command(
        tmp_path,
        "spark-submit",
        """\
        echo "OPTS=$SPARK_SUBMIT_OPTS"
        for arg in "$@"; do echo "$arg"; done
    """,
    )
    result = run_helper("spark_submit_java.sh", command[1:], tmp_path, BEAM_SPARK_SUBMIT_ARGS="--conf spark.x=1")
    assert result.returncode == 0, result.stderr
    opts, *submitted = result.stdout.splitlines()
    job_server_args = command[command.index("-jar") + 2 :]
    assert submitted == [
        "--master",
        "yarn",
        "--deploy-mode",
        "client",
        "--class",
        "org.apache.beam.runners.spark.SparkJobServerDriver",
        "--driver-class-path",
        str(guava),
        "--jars",
        str(staging),
        "--conf",
        "spark.x=1",
        str(jar),
        *job_server_args,
    ]
    assert job_server_args[:2] == ["--spark-master-url", "yarn"]
    assert "--add-opens=java.base/java.nio=ALL-UNNAMED" in opts  # Beam's JVM options kept


def _staged(name):
    return beam_runner_api_pb2.ArtifactInformation(
        type_urn=common_urns.artifact_types.FILE.urn,
        role_urn=common_urns.artifact_roles.STAGING_TO.urn,
        role_payload=beam_runner_api_pb2.ArtifactStagingToRolePayload(staged_name=name).SerializeToString(),
    )


def test_sdk_worker_starts_a_harness_that_runs_the_pipeline(tmp_path, capfd):
    # As bootstrap.sh's bin/sdk-worker, with two differences. It passes on
    # only what Flink and Spark give a PROCESS command (Beam's worker pool,
    # which starts it here, adds all endpoints), so sdk_worker.py must ask the
    # provision service. And it notes a failed start: a runner would wait for
    # that worker forever, and so would this test.
    failed = tmp_path / "launcher-failed"
    launcher = fake_command(
        tmp_path,
        "sdk-worker",
        f"""\
        unset PYTHONPATH PYTHONHOME
        for arg in "$@"; do
          case "$arg" in --id=*) id="$arg" ;; --provision_endpoint=*) provision="$arg" ;; esac
        done
        {sys.executable} {EMR / "sdk_worker.py"} "$id" "$provision" || echo "exit $?" > {failed}
    """,
    )
    pool = BeamFnExternalWorkerPoolServicer(use_process=True, container_executable=str(launcher))
    server = grpc.server(apache_beam.utils.thread_pool_executor.shared_unbounded_instance())
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    address = f"localhost:{server.add_insecure_port('localhost:0')}"
    server.start()
    options = struct_pb2.Struct()
    options.update({"beam:option:job_name:v1": "emr-launcher-test"})
    runner = FnApiRunner(
        default_environment=environments.ExternalEnvironment(
            address, artifacts=[_staged("workflow.tar.gz"), _staged("submission_environment_dependencies.txt")]
        ),
        provision_info=ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=options)),
    )
    out = str(tmp_path / "ran.jsonl")

    def record(x):  # Local, so pickled by value: the worker cannot import this test module.
        with open(out, "a") as f:
            f.write(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "worker": os.environ.get("WORKER_ID"),
                        "options": os.environ.get("PIPELINE_OPTIONS", ""),
                        "capabilities": os.environ.get("RUNNER_CAPABILITIES", ""),
                    }
                )
                + "\n"
            )

    def run():
        with apache_beam.Pipeline(runner=runner) as p:
            _ = p | apache_beam.Create([1, 2, 3]) | apache_beam.Map(record)

    job = threading.Thread(target=run, daemon=True)
    job.start()
    deadline = time.monotonic() + 120
    while job.is_alive() and not failed.exists() and time.monotonic() < deadline:
        job.join(0.2)
    rows = [json.loads(line) for line in pathlib.Path(out).read_text().splitlines()] if os.path.exists(out) else []
    for worker_id in {row["worker"] for row in rows}:
        pool.StopWorker(beam_fn_api_pb2.StopWorkerRequest(worker_id=worker_id), None)
    server.stop(None)
    assert not failed.exists(), f"sdk_worker.py failed ({failed.read_text().strip()})"
    assert not job.is_alive(), "the pipeline did not finish"
    assert len(rows) == 3
    assert all(row["pid"] != os.getpid() and row["worker"] for row in rows)
    assert all('"beam:option:job_name:v1": "emr-launcher-test"' in row["options"] for row in rows)
    assert all("beam:protocol:" in row["capabilities"] for row in rows)
    err = capfd.readouterr().err
    assert "staged files are not installed on EMR workers: ['workflow.tar.gz']" in err
