"""SageMaker Processing: the container entrypoint against a temporary processing
tree (no AWS, no Docker), and the launcher's request."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import boto3
import pytest

from pipeline import main as pipeline_main
from runners.sagemaker import entrypoint
from runners.sagemaker import launch
from tests.conftest import assert_same_files
from tests.conftest import download_prefix
from tests.conftest import stderr_lines
from tests.conftest import upload_tree
from tests.records import read_examples
from tests.records import read_labels
from tests.records import save_image
from tests.records import shard_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ROLE = "arn:aws:iam::123456789012:role/SageMakerProcessing"
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/im2tfrecord-sagemaker:latest"
LABELS = ["cats", "dogs", "owls"]


def _images(root, counts):
    """counts: {label: n} -> solid-color PNGs under <root>/input/images/<label>/."""
    for label, n in counts.items():
        for i in range(n):
            save_image(
                os.path.join(entrypoint.images_dir(str(root)), label, f"{label}_{i}.png"),
                size=(32, 24),
                color=(40 * i, 30, 200),
                fmt="PNG",
            )


def _environ(root):
    return {
        entrypoint.ROOT_ENV: str(root),
        entrypoint.CONFIG_DIR_ENV: str(root / "config"),
        entrypoint.FAILURE_FILE_ENV: str(root / "ml-output" / "message"),
    }


def _resource_config(root, host, hosts):
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / entrypoint.RESOURCE_CONFIG_FILE).write_text(json.dumps({"current_host": host, "hosts": hosts}))


def _dataset_info(folder):
    with open(os.path.join(folder, "dataset_info.json"), encoding="utf-8") as f:
        return json.load(f)


def _error_line(capsys):
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1, err
    assert err[0].startswith("im2tfrecord-sagemaker: error: "), err[0]
    return err[0]


def _without_aws(monkeypatch, tmp_path):
    """No AWS credentials, region or profile anywhere in reach."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def _dry_run(capsys, *argv):
    capsys.readouterr()
    assert launch.main([*argv[: argv.index("--")], "--dry-run", *argv[argv.index("--") :]]) == 0
    return json.loads(capsys.readouterr().out)


def test_one_instance_converts_the_input_channel_into_the_output_channel(tmp_path, capsys):
    _images(tmp_path, {"cats": 3, "dogs": 2})
    code = entrypoint.main(["--processing_root", str(tmp_path), "--num_shards", "2"], environ={})
    assert code == 0
    out = tmp_path / "output" / "tfrecords"
    assert sorted(os.listdir(out)) == [
        "dataset_info.json",
        "duplicates.jsonl",
        "errors.jsonl",
        "labels.txt",
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    assert read_labels(out) == ["cats", "dogs"]
    info = _dataset_info(out)
    assert info["labels"] == ["cats", "dogs"]
    assert info["counts"]["written"] == 5 and info["counts"]["failed"] == 0
    assert info["splits"]["train"]["per_class"] == {"cats": 3, "dogs": 2}
    stdout = capsys.readouterr().out
    assert f"input {tmp_path}/input/images; output {tmp_path}/output/tfrecords" in stdout
    assert "wrote 5 images" in stdout  # The pipeline's summary, on stdout for CloudWatch.


def test_two_instances_make_one_dataset_the_finishing_job_completes(s3_flags, s3_client, bucket, tmp_path, capsys):
    """The launcher's arguments replayed on two simulated instances (roots
    standing for /opt/ml/processing on each machine), their outputs uploaded
    into one prefix as SageMaker does, then the printed finishing job's on a
    third: one dataset, the one a single instance makes, byte for byte, whose
    duplicate report finds copies that sat in different instances' parts."""
    photos = tmp_path / "photos"
    for n in range(30):
        save_image(str(photos / LABELS[n % 3] / f"{n}.png"), size=(20 + n, 18), color=(8 * n, 30, 200), fmt="PNG")
    copies = ["cats/copy-1.png", "dogs/copy-2.png", "owls/copy-3.png", "dogs/copy-4.png"]
    for name in copies:
        save_image(str(photos / name), size=(29, 23), color=(1, 2, 3), fmt="PNG")
    upload_tree(s3_client, str(photos), bucket, "photos")
    pipeline_args = ["--input", f"s3://{bucket}/photos", "--num_shards", "4", "--validation_ratio", "0.25"]
    pipeline_args += s3_flags
    launcher = ["--image_uri", IMAGE_URI, "--role", ROLE, "--output_s3", f"s3://{bucket}/shards"]
    request = _dry_run(capsys, *launcher, "--instance_count", "2", "--job_name", "photos", "--", *pipeline_args)
    assert "ProcessingInputs" not in request  # Every instance reads the whole input from S3.

    written = {}  # Shard file -> the host that wrote it.
    for host in ("algo-1", "algo-2"):
        root = tmp_path / host
        _resource_config(root, host, ["algo-1", "algo-2"])
        assert entrypoint.main(request["AppSpecification"]["ContainerArguments"], environ=_environ(root)) == 0
        assert f"host {host} of 2, part {host[-1]}/2 of the shards" in capsys.readouterr().out
        output = root / "output" / "tfrecords"
        assert "dataset_info.json" not in os.listdir(output)
        for name in os.listdir(output):
            if name.endswith(".tfrecord"):
                assert name not in written, f"{host} and {written[name]} both wrote {name}"
                written[name] = host
        upload_tree(s3_client, str(output), bucket, "shards")  # SageMaker, once the job ends.
    shards = [f"{split}-0000{n}-of-00004.tfrecord" for split in ("train", "validation") for n in range(4)]
    assert sorted(written) == shards
    assert set(written.values()) == {"algo-1", "algo-2"}

    # The finishing job, as the launcher prints it: one instance, writing
    # straight into the prefix that holds the parts.
    finishing = launch.finishing_command(launch._parser().parse_args(launcher), pipeline_args, "photos")
    argv = shlex.split(finishing)[3:]
    assert argv[argv.index("--job_name") + 1] == "photos-finish"
    request = _dry_run(capsys, *argv)
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    root = tmp_path / "finishing"
    _resource_config(root, "algo-1", ["algo-1"])
    assert entrypoint.main(request["AppSpecification"]["ContainerArguments"], environ=_environ(root)) == 0
    assert "all kept from an earlier run, none converted" in capsys.readouterr().out
    merged = tmp_path / "merged"
    download_prefix(s3_client, bucket, "shards", str(merged))

    single = tmp_path / "single"
    assert pipeline_main(["--input", f"s3://{bucket}/photos", "--output", str(single), *pipeline_args[2:]]) == 0
    assert_same_files(single, merged)
    with open(merged / "duplicates.jsonl") as f:
        groups = [json.loads(line) for line in f]
    (group,) = [g for g in groups if g["basis"] == "file"]
    assert sorted(copy["path"] for copy in group["copies"]) == sorted(copies)
    # Its copies were in shards of both instances' parts.
    assert {written[name] for name in _shards_holding(merged, copies)} == {"algo-1", "algo-2"}
    inspected = subprocess.run(
        [sys.executable, "-m", "pipeline", "inspect", str(merged)], capture_output=True, text=True
    )
    assert inspected.returncode == 0, inspected.stderr[-2000:]


def _shards_holding(folder, relative_paths):
    """The shard files that hold records of these relative paths."""
    found = set()
    for path in shard_paths(folder, "train") + shard_paths(folder, "validation"):
        if any(record["image/filename"].decode() in relative_paths for record in read_examples([path])):
            found.add(os.path.basename(path))
    return found


def test_several_instances_need_the_whole_input_on_s3(tmp_path, capsys):
    _images(tmp_path, {"cats": 1})
    _resource_config(tmp_path, "algo-1", ["algo-1", "algo-2"])
    assert entrypoint.main(["--num_shards", "1"], environ=_environ(tmp_path)) == 2
    why = "2 instances make one dataset in parts, each planning the whole input"
    assert why in _error_line(capsys)
    assert not (tmp_path / "output").exists()
    assert why in (tmp_path / "ml-output" / "message").read_text()
    argv = ["--input", "s3://b/in", "--write_part", "1/2"]
    assert entrypoint.main(argv, environ=_environ(tmp_path)) == 2
    assert "--write_part is set on each of the 2 instances here" in _error_line(capsys)


def test_a_failing_job_says_why_where_sagemaker_looks(tmp_path):
    (tmp_path / "input" / "images").mkdir(parents=True)  # The channel came down empty.
    # Run as the container runs it: SageMaker sees the process's exit code.
    result = subprocess.run(
        [sys.executable, "-m", "runners.sagemaker.entrypoint"],
        env={**os.environ, **_environ(tmp_path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    why = (
        f"im2tfrecord: error: --input {tmp_path}/input/images holds no files (expected <label>/<image> files below it)"
    )
    # Nothing under --input is a wrong invocation: exit 2, one line (README, "Options": exit codes).
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [why]
    assert not (tmp_path / "output" / "tfrecords" / "dataset_info.json").exists()
    # SageMaker shows /opt/ml/output/message as the job's ExitMessage.
    assert (tmp_path / "ml-output" / "message").read_text() == why


def test_sigterm_stops_the_container_with_143(tmp_path):
    # SageMaker stops a job with SIGTERM; as PID 1 the default action would be ignored.
    for n in range(150):
        save_image(str(tmp_path / "input" / "images" / "a" / f"{n}.png"), size=(400, 300), fmt="PNG")
    process = subprocess.Popen(
        [sys.executable, "-m", "runners.sagemaker.entrypoint", "--decode_threads", "1"],
        env={**os.environ, **_environ(tmp_path)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = tmp_path / "output" / "tfrecords"
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(".inprogress-" in name for name in os.listdir(out))):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-2000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err[-2000:]
    assert (tmp_path / "ml-output" / "message").read_text() == (
        "im2tfrecord: error: interrupted by SIGTERM; nothing partial is left under a final name"
    )


def test_dry_run_prints_the_request_and_calls_nothing(monkeypatch, tmp_path, capsys):
    _without_aws(monkeypatch, tmp_path)
    for module in ("boto3", "botocore", "sagemaker"):  # Importing any of them now fails.
        monkeypatch.setitem(sys.modules, module, None)
    request = _dry_run(
        capsys,
        "--image_uri",
        IMAGE_URI,
        "--role",
        ROLE,
        "--instance_type",
        "ml.c5.2xlarge",
        "--input_s3",
        "s3://bucket/photos",
        "--output_s3",
        "s3://bucket/shards/",
        "--labels_file_s3",
        "s3://bucket/meta/labels.txt",
        "--job_name",
        "convert-photos-1",
        "--volume_size_gb",
        "50",
        "--max_runtime_s",
        "3600",
        "--",
        "--num_shards",
        "train=16,validation=2",
        "--validation_ratio",
        "0.1",
    )
    assert request["ProcessingJobName"] == "convert-photos-1"
    assert request["RoleArn"] == ROLE
    assert request["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.c5.2xlarge",
        "VolumeSizeInGB": 50,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert request["AppSpecification"] == {
        "ImageUri": IMAGE_URI,
        "ContainerArguments": [
            "--input",
            "/opt/ml/processing/input/images",
            "--labels_file",
            "/opt/ml/processing/input/labels/labels.txt",
            "--output",
            "/opt/ml/processing/output/tfrecords",
            "--num_shards",
            "train=16,validation=2",
            "--validation_ratio",
            "0.1",
        ],
    }
    inputs = {i["InputName"]: i["S3Input"] for i in request["ProcessingInputs"]}
    assert inputs["images"] == {
        "S3Uri": "s3://bucket/photos",
        "LocalPath": "/opt/ml/processing/input/images",
        "S3DataType": "S3Prefix",
        "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated",
    }
    assert inputs["labels"]["S3Uri"] == "s3://bucket/meta/labels.txt"
    assert inputs["labels"]["S3DataDistributionType"] == "FullyReplicated"
    assert request["ProcessingOutputConfig"] == {
        "Outputs": [
            {
                "OutputName": "tfrecords",
                "S3Output": {
                    "S3Uri": "s3://bucket/shards/",
                    "LocalPath": "/opt/ml/processing/output/tfrecords",
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    }


@pytest.mark.parametrize(
    "args,expected",
    [
        (
            ["--instance_count", "2", "--input_s3", "s3://b/in", "--output_s3", "s3://b/out"],
            "2 instances make one dataset in parts, each planning the whole input",
        ),
        (
            [
                *("--instance_count", "2", "--output_s3", "s3://b/out"),
                *("--", "--input", "s3://b/in", "--write_part", "1/2"),
            ],
            "--write_part is set on each of the 2 instances here",
        ),
        (["--output_s3", "s3://b/out"], "give exactly one of --input_s3"),
        (["--input_s3", "b/in", "--output_s3", "s3://b/out"], "--input_s3 must be an s3:// URI"),
        (["--input_s3", "s3://b/in", "--output_s3", "s3://b/out", "--job_name", "bad_name"], "--job_name 'bad_name'"),
        (["--input_s3", "s3://b/in"], "give exactly one of --output_s3"),
    ],
)
def test_wrong_launches_fail_with_one_line(args, expected, monkeypatch, tmp_path, capsys):
    _without_aws(monkeypatch, tmp_path)
    assert launch.main(["--image_uri", IMAGE_URI, "--role", ROLE, "--dry-run", *args]) == 2
    assert expected in _error_line(capsys)


def test_launch_without_dry_run_sends_the_same_request(s3_endpoint, monkeypatch, tmp_path, capsys):
    """The boto3 path, against the test's moto server (it speaks SageMaker too)."""
    try:
        import sagemaker  # noqa: F401

        pytest.skip("the SageMaker SDK is installed: the launcher would use it, not boto3")
    except ImportError:
        pass
    _without_aws(monkeypatch, tmp_path)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_SAGEMAKER", s3_endpoint),
    ):
        monkeypatch.setenv(name, value)
    argv = [
        "--image_uri",
        IMAGE_URI,
        "--role",
        ROLE,
        "--instance_count",
        "2",
        "--output_s3",
        "s3://bucket/shards",
        "--labels_file_s3",
        "s3://bucket/labels.txt",
        "--job_name",
        "im2tfrecord-moto-1",
        "--",
        "--input",
        "s3://bucket/photos",
        "--image_size",
        "224",
    ]
    request = _dry_run(capsys, *argv)
    assert launch.main(argv) == 0
    out = capsys.readouterr().out
    assert "started processing job im2tfrecord-moto-1 (boto3)" in out
    # With two instances, the job that finishes their parts, to run once it has completed.
    assert "then, once it has completed, finish the dataset with one instance:" in out
    finishing = shlex.split(out.splitlines()[-1])
    assert finishing[finishing.index("--job_name") + 1] == "im2tfrecord-moto-1-finish"
    assert finishing[-4:] == ["--image_size", "224", "--output", "s3://bucket/shards"]
    job = boto3.client("sagemaker").describe_processing_job(ProcessingJobName="im2tfrecord-moto-1")
    for key in ("AppSpecification", "ProcessingInputs", "ProcessingOutputConfig", "RoleArn", "StoppingCondition"):
        assert job[key] == request[key], key
