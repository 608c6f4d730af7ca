"""The per-target launchers under runners/: valid scripts that produce valid
command lines. Real runs of the Flink and Spark ones: tests/test_clusters.py."""

import glob
import json
import os
import stat
import subprocess
import sys

import pytest

from pipeline.convert.main import _parse
from pipeline.convert.main import _parser
from pipeline.convert.options import ConvertOptions
from tests.records import read_examples
from tests.records import save_image
from tests.records import shard_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "runners", "**", "*.sh"), recursive=True))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: os.path.relpath(p, ROOT))
def test_scripts_are_valid_bash(script):
    subprocess.run(["bash", "-n", script], check=True)


def test_local_launcher_converts(tmp_path):
    save_image(str(tmp_path / "in" / "a" / "1.jpg"))
    save_image(str(tmp_path / "in" / "b" / "2.jpg"))
    result = subprocess.run(
        [
            os.path.join(ROOT, "runners", "local", "run.sh"),
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
            "--num_shards",
            "1",
        ],
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert len(read_examples(shard_paths(tmp_path / "out"))) == 2


@pytest.mark.parametrize(
    "target,runner,flag", [("flink", "FlinkRunner", "flink_master"), ("spark", "SparkRunner", "spark_master_url")]
)
def test_cluster_launchers_build_valid_command_lines(target, runner, flag, tmp_path):
    # A stand-in interpreter that records the arguments it is given.
    recorder = tmp_path / "python"
    recorder.write_text(
        f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(tmp_path / 'args.json')!r}, 'w'))\n"
    )
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    env = dict(
        os.environ,
        PYTHON=str(recorder),
        FLINK_JOB_SERVER_JAR="/jars/flink.jar",
        FLINK_MASTER="jobmanager:8081",
        SPARK_MASTER="spark://master:7077",
        SPARK_JOB_SERVER_JAR="/jars/spark.jar",
        ENVIRONMENT_TYPE="PROCESS",
        ENVIRONMENT_CONFIG='{"command": "/opt/beam/boot"}',
    )
    subprocess.run(
        [os.path.join(ROOT, "runners", target, "run.sh"), "--input", "s3://b/in", "--output", "s3://b/out"],
        env=env,
        check=True,
    )
    args = json.load(open(tmp_path / "args.json"))
    assert args[:2] == ["-m", "pipeline"]
    options = _parse(_parser(), args[2:])
    everything = options.get_all_options()
    assert everything["runner"] == runner
    assert everything[flag] == {"flink": "jobmanager:8081", "spark": "spark://master:7077"}[target]
    assert everything["environment_type"] == "PROCESS"
    assert everything["environment_config"] == '{"command": "/opt/beam/boot"}'
    # PROCESS workers have the package installed: nothing to build and stage.
    assert everything.get("setup_file") is None
    assert int(everything["environment_cache_millis"]) > 0
    assert options.view_as(ConvertOptions).output == "s3://b/out"


@pytest.mark.parametrize("target,variable", [("flink", "FLINK_MASTER"), ("spark", "SPARK_MASTER")])
def test_cluster_launchers_refuse_without_a_cluster(target, variable, tmp_path):
    # No address given and no cluster of this clone's running: never a guess
    # such as localhost:8081, which may be another user's cluster.
    env = {k: v for k, v in os.environ.items() if k != variable}
    env.update(IM2TFRECORD_CACHE=str(tmp_path), PYTHON=sys.executable)
    result = subprocess.run(
        [os.path.join(ROOT, "runners", target, "run.sh"), "--input", "x", "--output", "y"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{target}/run.sh: no cluster: start this clone's with runners/{target}/"
        f"cluster.sh start, or name yours with {variable}=..."
    )


@pytest.mark.parametrize("target,variable", [("flink", "FLINK_MASTER"), ("spark", "SPARK_MASTER")])
def test_cluster_launchers_refuse_tmp_paths_isolated_workers_miss(target, variable, tmp_path):
    """This clone's cluster started with ISOLATE_WORKERS=1 (its state as
    cluster.sh leaves it): a local --input, --output or --manifest under /tmp
    is refused in one line, before any job server starts; S3 and the
    project's own folders pass (to a stand-in for Python)."""
    state = tmp_path / "cache" / "clusters" / target
    state.mkdir(parents=True)
    (state / "address").write_text("localhost:18081\n")
    (state / "isolation").write_text("1\n")
    recorder = tmp_path / "python"
    recorder.write_text(f"#!{sys.executable}\nopen({str(tmp_path / 'ran')!r}, 'w').close()\n")
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k != variable}
    env.update(
        IM2TFRECORD_CACHE=str(tmp_path / "cache"),
        PYTHON=str(recorder),
        FLINK_JOB_SERVER_JAR="/jars/flink.jar",
        SPARK_JOB_SERVER_JAR="/jars/spark.jar",
    )

    def launch(*args, **more_env):
        return subprocess.run(
            [os.path.join(ROOT, "runners", target, "run.sh"), *args],
            env=dict(env, **more_env),
            capture_output=True,
            text=True,
        )

    # A link under /tmp to a folder elsewhere, and one elsewhere into /tmp:
    # either way a worker finds nothing (its /tmp is its own).
    link_out = f"/tmp/im2tfrecord-test-link-{os.getpid()}-{target}"
    os.symlink("/var/tmp", link_out)
    (tmp_path / "link-in").symlink_to("/tmp/im2tfrecord-test-in")
    refusals = {
        ("--input", "s3://b/in", "--output", "/tmp/out"): "--output /tmp/out",
        ("--input=/tmp/x/../in", "--output", "s3://b/out"): "--input /tmp/in",
        ("--manifest", "/tmp/m.csv", "--output", "s3://b/out"): "--manifest /tmp/m.csv",
        ("--input", "s3://b/in", "--output", link_out): (f"--output {link_out}"),
    }
    if not str(tmp_path).startswith("/tmp/"):  # pytest's --basetemp elsewhere: the link leads into /tmp.
        refusals[("--input", str(tmp_path / "link-in"), "--output", "s3://b/out")] = "--input /tmp/im2tfrecord-test-in"
    try:
        for args, named in refusals.items():
            _assert_refused(launch(*args), target, named, tmp_path)
    finally:
        os.remove(link_out)
    # A flag without its value is left to the command's own parser.
    result = launch("--input", "s3://b/in", "--output")
    assert result.returncode == 0 and (tmp_path / "ran").exists(), result.stderr
    (tmp_path / "ran").unlink()
    # Allowed: S3, the project's folders; and any path on another cluster.
    for args, more_env in (
        (("--input", "s3://b/in", "--output", "s3://b/out"), {}),
        (("--input", os.path.join(ROOT, "tests", "data"), "--output", "s3://b/out"), {}),
        (("--input", "s3://b/in", "--output", "/tmp/out"), {variable: "elsewhere:8081"}),
    ):
        result = launch(*args, **more_env)
        assert result.returncode == 0 and (tmp_path / "ran").exists(), (args, result.stderr)
        (tmp_path / "ran").unlink()


def _assert_refused(result, target, named, tmp_path):
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"{target}/run.sh: {named} is under /tmp, which this clone's cluster's workers do not share"
        " (started with ISOLATE_WORKERS=1): use S3 or a folder outside /tmp"
    )
    assert not (tmp_path / "ran").exists()
