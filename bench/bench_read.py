"""Reading shards back: pipeline.read against plain tf.data, from disk and S3.

Run: .venv/bin/python bench/bench_read.py [--images 2000] [--shards 8] [--runs 3]

Converts a synthetic photo-like tree (bench/images.py, 320x240) once to
256 px JPEG shards, copies them to a local moto S3 server, then reads the
whole train split --runs times per row (after one untimed pass) and prints images/s (median) and the
ratio to the baseline measured in the same run:

  baseline    tf.data.TFRecordDataset over the local files, interleaved, parsed
              and decoded exactly as tf_dataset does: what TensorFlow alone does
  tf_dataset  local files (TFRecordDataset inside), local files through our
              Python stream (what S3 shards go through, minus the network), S3
              in order and with deterministic=False
  iterator    iter_examples, Pillow decode in one Python thread, local and S3

All rows decode every image to uint8 pixels; none resizes or batches.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import boto3

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from images import make_tree  # noqa: E402

from pipeline import read  # noqa: E402
from tests.servers import start_moto_server  # noqa: E402
from tests.servers import stop_server  # noqa: E402

CACHE = os.path.join(ROOT, ".cache", "bench-images")
S3_KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret-key", "region_name": "us-east-1"}
BUCKET = "bench-read"


def convert(images, shards, output):
    source = make_tree(os.path.join(CACHE, f"read-{images}"), classes=2, per_class=images // 2)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "--input",
            source,
            "--output",
            output,
            "--num_shards",
            str(shards),
            "--image_size",
            "256",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        sys.exit(f"conversion failed:\n{result.stderr[-3000:]}")


def upload(output, endpoint):
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, **S3_KEYS)
    client.create_bucket(Bucket=BUCKET)
    for name in os.listdir(output):
        client.upload_file(os.path.join(output, name), BUCKET, f"shards/{name}")
    return f"s3://{BUCKET}/shards"


def baseline(output):
    """What TensorFlow does alone: the files interleaved, parsed, decoded."""
    import tensorflow as tf

    info = read.load_info(output)
    files = [os.path.join(output, shard["file"]) for shard in info["splits"]["train"]["shards"]]
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        return (
            tf.io.decode_image(features["image/encoded"], channels=3, expand_animations=False),
            features["image/class/label"],
        )

    return (
        tf.data.Dataset.from_tensor_slices(files)
        .interleave(tf.data.TFRecordDataset, cycle_length=len(files), num_parallel_calls=tf.data.AUTOTUNE)
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    )


def python_stream(output):
    """tf_dataset with local shards forced through the Python stream S3 uses."""
    real = read.is_s3
    read.is_s3 = lambda path: True  # Only read_shard's choice; Storage keeps its own.
    try:
        return read.tf_dataset(output, "train")
    finally:
        read.is_s3 = real


def measure(rows, runs):
    """{name: (images, median images/s)}. One untimed pass of every row first
    (TensorFlow's start-up, the page cache), then the rows take turns, so
    load from other processes falls on all rows alike."""
    rates = {name: [] for name, _ in rows}
    counts = {}
    for run in range(runs + 1):
        for name, make_items in rows:
            start = time.monotonic()
            counts[name] = sum(1 for _ in make_items())
            if run:
                rates[name].append(counts[name] / (time.monotonic() - start))
    return {name: (counts[name], statistics.median(rates[name])) for name, _ in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-read-") as work:
        run(args, work)


def run(args, work):
    output = os.path.join(work, "shards")
    convert(args.images, args.shards, output)
    server, endpoint = start_moto_server(os.path.join(work, "moto.log"))
    try:
        remote = upload(output, endpoint)
        s3 = {"endpoint_url": endpoint, **S3_KEYS}
        rows = [
            ("baseline: tf.data.TFRecordDataset, local", lambda: baseline(output)),
            ("tf_dataset, local", lambda: read.tf_dataset(output, "train")),
            ("tf_dataset, local through the Python stream", lambda: python_stream(output)),
            ("tf_dataset, S3 (moto)", lambda: read.tf_dataset(remote, "train", s3=s3)),
            (
                "tf_dataset, S3 (moto), deterministic=False",
                lambda: read.tf_dataset(remote, "train", s3=s3, deterministic=False),
            ),
            ("iter_examples, local", lambda: read.iter_examples(output, "train")),
            ("iter_examples, S3 (moto)", lambda: read.iter_examples(remote, "train", s3=s3)),
        ]
        print(
            f"{args.images} images of 256 px JPEG in {args.shards} shards; {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} before; median of {args.runs}"
        )
        results = measure(rows, args.runs)
        base = results[rows[0][0]][1]
        for name, (count, rate) in results.items():
            print(f"  {name:<48} {count:>6} images  {rate:8.1f} images/s  x{rate / base:.2f}")
        print(f"load average {os.getloadavg()[0]:.1f} after (other processes skew every row alike)")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
