"""Reading shards back: pipeline.read against plain tf.data, from disk and S3.

Run: .venv/bin/python bench/bench_read.py [--images 2000] [--shards 8] [--runs 3]
     [--servers moto,gofakes3] [--torch]

Converts a synthetic photo-like tree (bench/images.py, 320x240) once to
256 px JPEG shards, copies them to local moto and gofakes3 S3 servers, then
reads the whole train split --runs times per row (after one untimed pass),
rows taking turns, and prints images/s (median, lowest-highest), the ratio
to the baseline measured in the same run, and for S3 rows the CPU the
server used meanwhile (in cores):

  baseline    tf.data.TFRecordDataset over the local files, interleaved, parsed
              and decoded as tf_dataset does (JPEG by the accurate IDCT);
              beside it the same with decode_image's default, the fast IDCT
  tf_dataset  local files (TFRecordDataset inside), local files through the
              Python stream S3 shards take, each S3 server, in order and with
              deterministic=False
  iterator    iter_examples (Pillow decodes in threads; and in one), local and S3
  torch       with --torch: torch_dataset through a DataLoader of 2 worker
              processes, batches of 32, local and S3

All rows decode every image to uint8 pixels; none resizes. The results of
two sittings, and how to read them on a noisy machine: docs/training.md.
"""

import argparse
import collections
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
from pipeline.read import tf_data  # noqa: E402
from tests.servers import start_gofakes3_server  # noqa: E402
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


def baseline(output, decode_as_tf_dataset):
    """What TensorFlow does alone: the files interleaved, parsed, decoded;
    with decode_as_tf_dataset, JPEGs by the accurate IDCT as tf_dataset does
    (the pixels Pillow gives), else by decode_image's default (the fast one)."""
    import tensorflow as tf

    info = read.load_info(output)
    files = [os.path.join(output, shard["file"]) for shard in info["splits"]["train"]["shards"]]
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        encoded = features["image/encoded"]
        if decode_as_tf_dataset:
            image = tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE")
        else:
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        return image, features["image/class/label"]

    return (
        tf.data.Dataset.from_tensor_slices(files)
        .interleave(tf.data.TFRecordDataset, cycle_length=len(files), num_parallel_calls=tf.data.AUTOTUNE)
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    )


def torch_loader(prefix, s3, workers):
    """torch_dataset's images through a DataLoader of `workers` processes, in
    batches of 32 (collated in the workers, as training does: handing over
    single images costs a shared-memory tensor each)."""
    import torch.utils.data

    loader = torch.utils.data.DataLoader(read.torch_dataset(prefix, "train", s3=s3), num_workers=workers, batch_size=32)
    for _, labels in loader:
        yield from labels


def python_stream(output):
    """tf_dataset with local shards forced through the Python stream S3 uses."""
    real = tf_data.is_s3
    tf_data.is_s3 = lambda path: True  # Only read_shard's choice; Storage keeps its own.
    try:
        return read.tf_dataset(output, "train")
    finally:
        tf_data.is_s3 = real


Result = collections.namedtuple("Result", "images rate low high server_cores")


def measure(rows, runs, servers):
    """{name: Result(images, median images/s, median cores the S3 server
    used meanwhile)}. One untimed pass of every row first (TensorFlow's
    start-up, the page cache), then the rows take turns, so load from other
    processes falls on all rows alike. `servers`: {name: process}, each
    row's server found by its name in the row's."""
    rates = {name: [] for name, _ in rows}
    cores = {name: [] for name, _ in rows}
    counts = {}
    for run in range(runs + 1):
        for name, make_items in rows:
            server = next((process for key, process in servers.items() if f"({key})" in name), None)
            cpu = _cpu_seconds(server)
            start = time.monotonic()
            counts[name] = sum(1 for _ in make_items())
            elapsed = time.monotonic() - start
            if run:
                rates[name].append(counts[name] / elapsed)
                cores[name].append((_cpu_seconds(server) - cpu) / elapsed)
    return {
        name: Result(
            counts[name],
            statistics.median(rates[name]),
            min(rates[name]),
            max(rates[name]),
            statistics.median(cores[name]),
        )
        for name, _ in rows
    }


def _cpu_seconds(process):
    """User and system CPU seconds a server process has used so far (0 without one)."""
    if process is None:
        return 0.0
    with open(f"/proc/{process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--servers", default="moto,gofakes3", help="S3 servers to read from, comma-separated (moto, gofakes3)"
    )
    parser.add_argument("--torch", action="store_true", help="also torch_dataset through a DataLoader (needs torch)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-read-") as work:
        run(args, work)


def run(args, work):
    output = os.path.join(work, "shards")
    convert(args.images, args.shards, output)
    servers = [start_moto_server(os.path.join(work, "moto.log"))]
    if "gofakes3" in args.servers:
        servers.append(start_gofakes3_server(os.path.join(work, "gofakes3.log")))
    try:
        remotes = {}
        for name, (_, endpoint) in zip(("moto", "gofakes3"), servers):
            if name in args.servers:
                remotes[name] = (upload(output, endpoint), {"endpoint_url": endpoint, **S3_KEYS})
        rows = [
            ("baseline: TFRecordDataset, decoded as tf_dataset", lambda: baseline(output, True)),
            ("TFRecordDataset, decode_image's fast IDCT", lambda: baseline(output, False)),
            ("tf_dataset, local", lambda: read.tf_dataset(output, "train")),
            ("tf_dataset, local through the Python stream", lambda: python_stream(output)),
            ("iter_examples, local", lambda: read.iter_examples(output, "train")),
            ("iter_examples, local, one thread", lambda: read.iter_examples(output, "train", decode_threads=1)),
        ]
        for name, (remote, s3) in remotes.items():
            rows += [
                (f"tf_dataset, S3 ({name})", lambda remote=remote, s3=s3: read.tf_dataset(remote, "train", s3=s3)),
                (
                    f"tf_dataset, S3 ({name}), deterministic=False",
                    lambda remote=remote, s3=s3: read.tf_dataset(remote, "train", s3=s3, deterministic=False),
                ),
                (
                    f"iter_examples, S3 ({name})",
                    lambda remote=remote, s3=s3: read.iter_examples(remote, "train", s3=s3),
                ),
            ]
        if args.torch:
            rows.append(("torch_dataset, local, DataLoader 2 workers", lambda: torch_loader(output, None, 2)))
            for name, (remote, s3) in remotes.items():
                rows.append(
                    (
                        f"torch_dataset, S3 ({name}), DataLoader 2 workers",
                        lambda remote=remote, s3=s3: torch_loader(remote, s3, 2),
                    )
                )
        print(
            f"{args.images} images of 256 px JPEG in {args.shards} shards; {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} before; median (lowest-highest) of {args.runs}"
        )
        results = measure(rows, args.runs, {name: process for name, (process, _) in zip(("moto", "gofakes3"), servers)})
        base = results[rows[0][0]].rate
        for name, result in results.items():
            server = f"  server {result.server_cores:.2f} cores" if result.server_cores else ""
            ratio, spread = result.rate / base, f"{result.low:.0f}-{result.high:.0f}"
            print(f"  {name:<52} {result.rate:7.1f} images/s ({spread:>9})  x{ratio:.2f}{server}")
        print(f"load average {os.getloadavg()[0]:.1f} after (other processes skew every row alike)")
    finally:
        for process, _ in servers:
            stop_server(process)


if __name__ == "__main__":
    main()
