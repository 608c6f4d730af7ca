"""Start-up of a local conversion (pipeline/__init__.py): the modules Beam
would import for runners and stores the run never uses are blocked, the
output is byte for byte that of a run that imports them, and a Beam that
needs one of them after all still starts."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pipeline
from tests.records import save_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CONSOLE = textwrap.dedent(
    """
    import sys
    import pipeline
    pipeline._NOT_NEEDED_LOCALLY += tuple(sys.argv[1].split(",")) if sys.argv[1] else ()
    sys.argv = ["im2tfrecord", *sys.argv[2:]]
    code = pipeline.console_main()
    unneeded = ("pandas", "google.cloud.storage", "google.cloud.dataflow", "boto3", "apache_beam.io.aws.s3filesystem")
    loaded = sorted(m for m in unneeded if sys.modules.get(m))
    print("loaded:" + ",".join(loaded))
    sys.exit(code)
    """
)
_PLAIN = "import sys, pipeline; sys.exit(pipeline.main(sys.argv[1:]))"


def _tree(root):
    for n in range(6):
        save_image(str(root / "ab"[n % 2] / f"{n}.jpg"), size=(60 + n, 40), color=(40 * n, 90, 200))
    return str(root)


def _hashes(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in sorted(os.listdir(folder))}


def _console(extra_blocked, *args):
    return subprocess.run(
        [sys.executable, "-c", _CONSOLE, extra_blocked, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_a_local_conversion_imports_neither_pandas_nor_google_cloud_nor_s3_clients(tmp_path):
    source = _tree(tmp_path / "in")
    result = _console("", "--input", source, "--output", str(tmp_path / "blocked"), "--num_shards", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "loaded:"
    plain = subprocess.run(
        [sys.executable, "-c", _PLAIN, "--input", source, "--output", str(tmp_path / "plain"), "--num_shards", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert _hashes(tmp_path / "blocked") == _hashes(tmp_path / "plain")
    # 2 shards, labels.txt, errors.jsonl, duplicates.jsonl, dataset_info.json.
    assert len(_hashes(tmp_path / "plain")) == 6


def test_beams_warning_about_missing_apitools_is_not_shown(tmp_path):
    """Where google-apitools is not installed (the converter's own
    dependencies do not bring it), Beam's import logs a warning about
    BigQuery's clients; a run does not show it. Here apitools is made
    missing by blocking its import."""
    control = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['apitools'] = None; import apache_beam"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "apitools not found" in control.stderr  # Beam's import says it, missing apitools.
    source = _tree(tmp_path / "in")
    result = _console("apitools", "--input", source, "--output", str(tmp_path / "out"), "--num_shards", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "apitools" not in result.stderr and "WARNING" not in result.stderr, result.stderr[-2000:]


def test_s3_clients_blocked_only_when_no_path_is_on_s3():
    """Beam's S3 filesystem (which imports boto3) is blocked for a local run
    whose paths are all local; one s3:// path anywhere, and it loads."""
    code = "import json, sys, pipeline; print(json.dumps(pipeline._block_unneeded_imports(sys.argv[1:])))"
    for argv, s3_blocked in (
        (["--input", "/x", "--output", "/y"], True),
        (["--input", "s3://bucket/x", "--output", "/y"], False),
        (["--input", "/x", "--output=S3://bucket/y"], False),
        (["--input", "/x", "--output", "/y", "--manifest", "s3://bucket/m.csv"], False),
    ):
        result = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        blocked = json.loads(result.stdout)
        assert "pandas" in blocked, argv
        assert ("apache_beam.io.aws" in blocked) == s3_blocked, argv


def test_a_beam_that_needs_a_blocked_module_still_starts(tmp_path):
    # Beam imports apache_beam.coders unconditionally: blocking it stands for
    # a future Beam that needs one of the blocked modules.
    source = _tree(tmp_path / "in")
    result = _console("apache_beam.coders", "--input", source, "--output", str(tmp_path / "out"), "--num_shards", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "out")) == [
        "dataset_info.json",
        "duplicates.jsonl",
        "errors.jsonl",
        "labels.txt",
        "train-00000-of-00001.tfrecord",
    ]


def test_other_runners_commands_and_stores_import_as_usual():
    before = dict(sys.modules)
    for argv in (
        ["--input", "/x", "--output", "/y", "--runner", "FlinkRunner"],
        ["--input", "/x", "--output", "/y", "--runner=SparkRunner"],
        ["--input", "gs://bucket/x", "--output", "/y"],
        ["--input", "/x", "--output", "/y", "--labels_file", "gs://bucket/labels.txt"],
        ["upload", "/x", "s3://bucket/x"],
        ["inspect", "/y"],
    ):
        assert pipeline._block_unneeded_imports(argv) == [], argv
    assert dict(sys.modules) == before
    assert pipeline._runner(["--runner", "DirectRunner"]) in pipeline.LOCAL_RUNNER_NAMES
    assert pipeline._runner(["--input", "/x"]) is None


def test_commands_and_shard_processes_that_need_no_beam_import_none():
    """upload and inspect never run a pipeline, and a shard-writing process
    is a fresh interpreter that imports its modules itself: Beam's import
    would be about 1.3 s of each one's start (and its memory), for nothing."""
    modules = ["pipeline.upload.main", "pipeline.inspection.main", "transforms.shard_processes"]
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "    beam = sorted(m for m in sys.modules if m.split('.')[0] == 'apache_beam')\n"
        "    assert not beam, f'{name} imported Beam ({beam[0]})'\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *modules], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
