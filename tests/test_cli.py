"""The command line: help, fail-fast checks with one clear line, summary."""

import functools
import http.server
import json
import os
import threading

import pytest

import pipeline
from pipeline import main
from tests.conftest import ACCESS_KEY
from tests.conftest import SECRET_KEY
from tests.conftest import on_both_s3_servers
from tests.conftest import stderr_lines
from tests.records import save_image
from tests.servers import start_moto_server
from tests.servers import stop_server


@pytest.fixture
def image_tree(tmp_path):
    root = tmp_path / "in"
    save_image(str(root / "cats" / "1.jpg"))
    return str(root)


def _error_line(capsys):
    err = stderr_lines(capsys.readouterr().err)
    assert len(err) == 1, err
    assert err[0].startswith("im2tfrecord: error: ")
    return err[0]


def test_help_lists_our_options_then_beams(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in (
        "--input",
        "--output",
        "--num_shards",
        "--image_size",
        "--resize_mode",
        "--image_format",
        "--jpeg_quality",
        "--keep_original",
        "--color",
        "--labels_file",
        "--manifest",
        "--manifest_label_key",
        "--dedupe",
        "--schema",
        "--max_pixels",
        "--runner",
        "--s3_endpoint_url",
    ):
        assert flag in out, flag
    assert out.index("--num_shards") < out.index("--runner")
    # Only the Beam groups a user of this tool needs; --help_all has the rest.
    for flag in ("--environment_type", "--flink_master", "--spark_master_url", "--job_endpoint"):
        assert flag in out, flag
    for flag in ("--dataflow_endpoint", "--azure_connection_string", "--setup_file"):
        assert flag not in out, flag
    assert len(out.splitlines()) < 330
    assert "--version prints the version" in out and "exit codes: 0 done; 1 the job failed" in out
    assert main(["--help_all"]) == 0
    assert "--dataflow_endpoint" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--output", "x"], "--input is required"),
        (["--input", "{tree}"], "--output is required"),
        (["--input", "{tree}", "--output", "{out}", "--num_shards", "0"], "--num_shards must be at least 1"),
        (["--input", "{tree}", "--output", "{out}", "--image_size", "0"], "--image_size must be at least 1"),
        (["--input", "{tree}", "--output", "{out}", "--jpeg_quality", "0"], "--jpeg_quality must be"),
        (["--input", "{tree}", "--output", "{out}", "--num_shard", "3"], "did you mean --num_shards"),
        (["--input", "{empty}", "--output", "{out}"], "holds no files"),
        (["--input", "{tree}/missing", "--output", "{out}"], "does not exist"),
        (["--input", "{tree}/cats", "--output", "{out}"], "holds files but no folders"),
        (
            ["--input", "{tree}", "--output", "{out}", "--runner", "FlinkRunner", "--flink_master", "127.0.0.1:9"],
            "--flink_master 127.0.0.1:9: no Flink REST API answers there",
        ),
        (
            [
                "--input",
                "{tree}",
                "--output",
                "{out}",
                "--runner",
                "SparkRunner",
                "--spark_master_url",
                "spark://127.0.0.1:9",
            ],
            "--spark_master_url spark://127.0.0.1:9: no Spark master answers there",
        ),
        (
            ["--input", "{tree}", "--output", "{out}", "--environment_type", "BOGUS"],
            "--environment_type 'BOGUS' is not one Beam knows",
        ),
        (["--input", "{tree}", "--output", "{out}", "--labels_file", "{tree}/nope.txt"], "does not exist"),
        (["--input", "{tree}", "--output", "{out}", "--labels_file", "{tree}"], "is a folder; name a file"),
        (
            ["--input", "{tree}", "--output", "{out}", "--runner", "Nonsense"],
            "--runner 'Nonsense' is not a Beam runner",
        ),
        (["--input", "{tree}", "--output", "{out}", "--streaming"], "--streaming: a conversion is a batch job"),
        # Found by a new user: each was accepted, or failed only after the work.
        (
            ["--input", "{tree}", "--output", "{out}", "--num_shards", "train=2,valid=1", "--validation_ratio", "0.2"],
            "--num_shards names split 'valid', but this run makes only: train, validation",
        ),
        (
            ["--input", "{tree}", "--output", "{out}", "--num_shards", "train=2,validation=1"],
            "--num_shards names split 'validation', but this run makes only: train "
            "(--validation_ratio makes the validation split)",
        ),
        (
            ["--input", "{tree}", "--output", "{out}", "--num_shards", "train=2", "--validation_ratio", "0.2"],
            "--num_shards gives no shard count for split 'validation': name every split this run makes "
            "(train, validation), or give one number for all",
        ),
        (
            ["--input", "{tree}", "--output", "{out}", "--num_shards", "train=2,train=3"],
            "--num_shards names split 'train' twice",
        ),
        (["--input", "{tree}", "--output", "{link_into_tree}"], "is inside --input"),
        (
            ["--input", "{tree}", "--output", "{out}", "--resize_mode", "crop"],
            "argument --resize_mode: invalid choice: 'crop' (choose from 'shorter_side', 'fit', 'exact', "
            "'center_crop'); see --help",
        ),
        (
            ["--input", "{tree}", "--output", "{out}", "--resize_filter", "nearest"],
            "argument --resize_filter: invalid choice: 'nearest' (choose from 'bicubic', 'bilinear', 'lanczos', "
            "'area'); see --help",
        ),
        (["--input", "{tree}", "--output", "{out}", "--dry_run"], "--plan shows what a run would write"),
        (
            ["--input", "{tree}", "--output", "{out}", "--s3_endpoint_url", "not-a-url"],
            "--s3_endpoint_url must be a URL",
        ),
        (["--input", "{tree}", "--output", "{file}"], "is a file; name a folder"),
        (["--input", "{tree}", "--output", "{tree}/shards"], "is inside --input"),
        (
            ["--input", "{tree}", "--output", "{out}", "--labels_file", "{blank_line_labels}"],
            "labels file line 2 is blank",
        ),
        (["--input", "{tree}", "--output", "{out}", "--labels_file", "{empty_labels}"], "labels file is empty"),
        (
            ["--input", "{tree}", "--output", "{out}", "--labels_file", "{twice_labels}"],
            "names class 'cats' twice (lines 1 and 3)",
        ),
    ],
)
def test_wrong_invocations_fail_fast_with_one_line(args, expected, image_tree, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_bytes(b"not a folder")
    labels = {"blank_line_labels": "cats\n\ndogs\n", "empty_labels": "\n", "twice_labels": "cats\ndogs\ncats\n"}
    for name, text in labels.items():
        (tmp_path / name).write_text(text)
    # A link outside the input to a folder inside it: the output would land in the input.
    os.makedirs(os.path.join(image_tree, "inner"))
    os.symlink(os.path.join(image_tree, "inner"), tmp_path / "link_into_tree")
    values = {
        "tree": image_tree,
        "out": str(tmp_path / "out"),
        "empty": str(tmp_path / "empty"),
        "file": str(tmp_path / "file"),
        "link_into_tree": str(tmp_path / "link_into_tree"),
        **{name: str(tmp_path / name) for name in labels},
    }
    assert main([a.format(**values) for a in args]) == 2
    assert expected in _error_line(capsys)
    assert not (tmp_path / "out").exists()  # Refused before --output was created.
    assert os.listdir(os.path.join(image_tree, "inner")) == []
    assert not os.path.exists(os.path.join(image_tree, "shards"))
    assert (tmp_path / "file").read_bytes() == b"not a folder"


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"im2tfrecord {pipeline.__version__}"


def test_num_shards_split_names_come_from_the_folders(tmp_path, capsys):
    save_image(str(tmp_path / "in" / "train" / "cats" / "1.jpg"))
    save_image(str(tmp_path / "in" / "holdout" / "cats" / "2.jpg"))
    common = ["--input", str(tmp_path / "in"), "--splits_from_folders"]
    assert main([*common, "--output", str(tmp_path / "a"), "--num_shards", "train=1,validation=1"]) == 2
    assert "names split 'validation', but this run makes only: holdout, train" in _error_line(capsys)
    assert main([*common, "--output", str(tmp_path / "b"), "--num_shards", "train=1,holdout=1"]) == 0


@on_both_s3_servers
def test_missing_bucket_fails_fast(s3_flags, image_tree, capsys):
    assert main(["--input", "s3://no-such-bucket/in", "--output", "/tmp/x", *s3_flags]) == 2
    assert "S3 bucket 'no-such-bucket' does not exist" in _error_line(capsys)


def test_missing_output_bucket_fails_fast(s3_flags, image_tree, capsys):
    assert main(["--input", image_tree, "--output", "s3://no-such-bucket/out", *s3_flags]) == 2
    assert "--output: S3 bucket 'no-such-bucket' does not exist" in _error_line(capsys)


def test_empty_s3_prefix_fails_fast(s3_flags, bucket, capsys):
    assert main(["--input", f"s3://{bucket}/nothing", "--output", "/tmp/x", *s3_flags]) == 2
    assert "holds no files" in _error_line(capsys)


def test_unreachable_endpoint_fails_fast(tmp_path, capsys):
    flags = [
        "--s3_endpoint_url=http://127.0.0.1:9",
        f"--s3_access_key_id={ACCESS_KEY}",
        f"--s3_secret_access_key={SECRET_KEY}",
        "--s3_region_name=us-east-1",
    ]
    assert main(["--input", "s3://b/in", "--output", str(tmp_path), *flags]) == 2
    line = _error_line(capsys)
    assert "cannot reach the S3 endpoint" in line and SECRET_KEY not in line


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(params=["404", "301"])
def web_server(request, tmp_path):
    """A plain HTTP server, not S3: it answers 404 to every S3 request, or,
    where a folder is named like the bucket, a 301 to the folder's URL (which
    sends botocore round in circles asking the bucket's region)."""
    (tmp_path / "www").mkdir()
    if request.param == "301":
        (tmp_path / "www" / "b").mkdir()
    handler = functools.partial(_QuietHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _web_flags(endpoint):
    return [
        f"--s3_endpoint_url={endpoint}",
        f"--s3_access_key_id={ACCESS_KEY}",
        f"--s3_secret_access_key={SECRET_KEY}",
        "--s3_region_name=us-east-1",
    ]


@pytest.mark.parametrize("where", ["--input", "--output"])
def test_an_endpoint_that_is_not_s3_is_named_so(web_server, image_tree, tmp_path, capsys, where):
    paths = {"--input": image_tree, "--output": str(tmp_path / "out"), where: "s3://b/in"}
    assert main(["--input", paths["--input"], "--output", paths["--output"], *_web_flags(web_server)]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"im2tfrecord: error: {where}: the S3 endpoint ans"), line
    assert line.endswith("it is not an S3 server (check --s3_endpoint_url)") and "does not exist" not in line


@pytest.mark.parametrize("command", ["upload", "inspect"])
def test_upload_and_inspect_name_an_endpoint_that_is_not_s3(web_server, image_tree, capsys, command):
    args = [image_tree, "s3://b/in"] if command == "upload" else ["s3://b/in"]
    assert main([command, *args, *_web_flags(web_server)[:3]]) == 2
    line = stderr_lines(capsys.readouterr().err)[0]
    assert line.endswith("it is not an S3 server (check --s3_endpoint_url)"), line


def test_rejected_credentials_fail_fast(tmp_path, capsys):
    # A second server that checks credentials: ours are not in its IAM.
    process, endpoint = start_moto_server(tmp_path / "moto-auth.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        flags = [
            f"--s3_endpoint_url={endpoint}",
            f"--s3_access_key_id={ACCESS_KEY}",
            f"--s3_secret_access_key={SECRET_KEY}",
            "--s3_region_name=us-east-1",
        ]
        assert main(["--input", "s3://b/in", "--output", str(tmp_path), *flags]) == 2
    finally:
        stop_server(process)
    line = _error_line(capsys)
    assert "S3 refused HeadBucket on bucket 'b' (403): the credentials are wrong, or lack s3:ListBucket" in line
    assert SECRET_KEY not in line and ACCESS_KEY not in line


def test_summary_adds_up(image_tree, tmp_path, capsys):
    with open(f"{image_tree}/notes.txt", "w") as f:
        f.write("not an image")
    with open(f"{image_tree}/cats/bad.jpg", "wb") as f:
        f.write(b"\xff\xd8broken")
    assert main(["--input", image_tree, "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 image in" in out
    assert "matched 3 = written 1 + failed 1 + skipped (not images, or hidden) 1" in out
    # Shards are planned before decoding: the broken file still counted, so 2.
    assert "train: 1 image in 2 shards" in out and "cats 1" in out
    assert "errors: decode_error 1" in out


def test_existing_dataset_on_s3_is_refused(s3_client, bucket, s3_flags, image_tree, capsys):
    s3_client.put_object(
        Bucket=bucket, Key="out/dataset_info.json", Body=b'{"tool": {"name": "im2tfrecord"}, "splits": {}}'
    )
    assert main(["--input", image_tree, "--output", f"s3://{bucket}/out", *s3_flags]) == 2
    assert "already holds a dataset (dataset_info.json)" in _error_line(capsys)


def test_debug_logs_name_no_credentials(s3_client, bucket, s3_flags, image_tree, tmp_path):
    # At DEBUG botocore logs each request's signed headers, which hold the
    # access key id: every log line goes through the redacting filter.
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "--input",
            image_tree,
            "--output",
            f"s3://{bucket}/out",
            "--log_level",
            "DEBUG",
            *s3_flags,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "botocore" in result.stderr and "Authorization" in result.stderr  # Debug logging was on.
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in result.stderr and secret not in result.stdout


def test_ctrl_c_while_starting_is_one_line_and_130(tmp_path):
    # Beam's import takes seconds: a Ctrl-C then (a typo spotted) met a traceback.
    # -X importtime reports each import as it completes, so the signal goes
    # when the child is provably inside Beam's import, however slow the machine.
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "pipeline",
            "--input",
            str(tmp_path),
            "--output",
            str(tmp_path / "out"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "apache_beam." in line:
            process.send_signal(signal.SIGINT)
            break
    lines.extend(process.stderr)
    assert process.wait(timeout=120) == 130
    ours = [line for line in lines if not line.startswith("import time:")]
    assert ours == ["im2tfrecord: error: interrupted by SIGINT while starting; nothing was written\n"]


def test_a_run_that_writes_nothing_fails_and_names_the_empty_class(tmp_path, capsys):
    save_image(str(tmp_path / "in" / "cats" / "1.jpg"))
    (tmp_path / "in" / "dogs").mkdir()
    (tmp_path / "in" / "dogs" / "empty.jpg").write_bytes(b"")
    out = str(tmp_path / "out")
    assert main(["--input", str(tmp_path / "in"), "--output", out, "--num_shards", "1"]) == 0
    assert "warning: 1 class in labels.txt has no image in any split: dogs" in capsys.readouterr().out
    with open(os.path.join(out, "dataset_info.json")) as f:
        assert json.load(f)["warnings"]["classes_without_images"] == {"count": 1, "first": ["dogs"]}
    (tmp_path / "in" / "cats" / "1.jpg").write_bytes(b"GIF89a")
    assert main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "none"), "--num_shards", "1"]) == 1
    assert _error_line(capsys) == (
        "im2tfrecord: error: no image was written: all 2 failed (one row each in errors.jsonl)"
    )
