"""runners/emr/bootstrap.sh as it runs on a node with no route to PyPI: the
real script, with stand-ins only for what an EMR node has and this machine
has not (sudo, dnf, `aws s3 cp` from a folder standing for the bucket; as a
core node, so without the master's job servers), installs im2tfrecord from the wheelhouse
runners/emr/make_wheelhouse.sh builds, with pip --no-index and an index that
cannot be reached, into a fresh venv whose im2tfrecord then converts images."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.records import save_image

ROOT = pathlib.Path(__file__).resolve().parent.parent
EMR = ROOT / "runners" / "emr"
CACHE = pathlib.Path(os.environ.get("IM2TFRECORD_CACHE", ROOT / ".cache"))

# `aws s3 cp [--recursive] [--only-show-errors] SRC DST`, s3://bucket/ being $BUCKET.
_AWS = """\
#!/bin/sh
[ "$1 $2" = "s3 cp" ] || { echo "aws stand-in: only s3 cp" >&2; exit 2; }
shift 2
recursive=0
while [ "${1#--}" != "$1" ]; do [ "$1" = --recursive ] && recursive=1; shift; done
src="$BUCKET/${1#s3://bucket/}"
if [ "$recursive" = 1 ]; then mkdir -p "$2" && cp -r "$src/." "$2"; else cp "$src" "$2"; fi
"""


def _stand_in(folder, name, script):
    path = folder / name
    path.write_text(script)
    path.chmod(0o755)


@pytest.fixture(scope="module")
def wheelhouse():
    built = subprocess.run(
        [str(EMR / "make_wheelhouse.sh"), str(CACHE / "test-wheelhouse")], capture_output=True, text=True, timeout=900
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return pathlib.Path(built.stdout.strip().splitlines()[-1])


def test_bootstrap_installs_from_the_wheelhouse_without_pypi(wheelhouse, tmp_path):
    bucket = tmp_path / "bucket"
    (bucket / "emr").mkdir(parents=True)
    (package,) = wheelhouse.glob("im2tfrecord-*.whl")
    shutil.copy(package, bucket / "emr")
    for helper in ("sdk_worker.py", "with_flink_master.sh", "spark_submit_java.sh"):
        shutil.copy(EMR / helper, bucket / "emr")
    shutil.copytree(wheelhouse, bucket / "emr" / "wheelhouse")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "sudo", '#!/bin/sh\nexec "$@"\n')
    _stand_in(bin_dir, "dnf", "#!/bin/sh\nexit 0\n")  # Python 3.11 is here already.
    _stand_in(bin_dir, "python3.11", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    _stand_in(bin_dir, "aws", _AWS)
    prefix = tmp_path / "opt"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "BUCKET": str(bucket),
        "IM2TFRECORD_PREFIX": str(prefix),
        # Anything pip would fetch from an index fails: the wheelhouse must hold it all.
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
    }
    args = [
        *("--package", f"s3://bucket/emr/{package.name}", "--jars", "s3://bucket/emr/jars/"),
        *("--wheelhouse", "s3://bucket/emr/wheelhouse/"),
    ]
    result = subprocess.run(
        ["bash", str(EMR / "bootstrap.sh"), *args], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(pip --no-index)" in result.stderr
    for command in ("sdk-worker", "with-flink-master", "spark-submit-java"):
        assert os.access(prefix / "bin" / command, os.X_OK), command
    # The venv's own im2tfrecord, run from elsewhere, converts.
    for n in range(3):
        save_image(str(tmp_path / "images" / "cats" / f"{n}.jpg"), size=(64, 48))
    converted = subprocess.run(
        [
            *(str(prefix / "venv" / "bin" / "python3"), "-m", "pipeline"),
            *("--input", str(tmp_path / "images"), "--output", str(tmp_path / "out"), "--num_shards", "1"),
        ],
        cwd=tmp_path,
        env={k: v for k, v in env.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert converted.returncode == 0, converted.stderr[-3000:]
    assert "matched 3 = written 3" in converted.stdout
    assert (tmp_path / "out" / "train-00000-of-00001.tfrecord").stat().st_size > 0
