"""Throughput: the project against the practical limit and the naive baseline,
from local disk and from a local S3 server, plus large photos and start-up.

Run: .venv/bin/python bench/bench_throughput.py [--runs 3] [--skip-s3]
Every measurement is a fresh process timed end to end (start-up included),
repeated --runs times; the median is reported, with ratios taken against
baselines measured in the same run. Results: bench/results/throughput.json and
bench/results/throughput.md (the table in the README).

Images: hymenoptera (../shared/data) five times over through symlinks (1,985
real photos), or a synthetic 2,000-image set when absent; large/camera_exif
16 times over (224 camera photos of 2 to 14 MP); converted to 256 px JPEG at
quality 90.

The project pays a fixed start-up (Python and Beam imports, building and
running an empty pipeline: measured here on 10 images), which a 2,000-image run
does not amortize. Rows of the project therefore also show a steady-state
rate: images / (seconds - start-up seconds), both measured in this run.
"""

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from images import folder_bytes  # noqa: E402
from images import make_tree  # noqa: E402

from tests.servers import start_moto_server  # noqa: E402
from tests.servers import stop_server  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
CACHE = os.path.join(ROOT, ".cache", "bench-images")
RESULTS = os.path.join(ROOT, "bench", "results")
S3_KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret-key", "region_name": "us-east-1"}
NAIVE_S3_IMAGES = 60  # The naive S3 read does about 4 images/s: a sample is enough.


def linked_tree(source, name, copies):
    """A tree of symlinks to every image of source/<label>/, `copies` times over."""
    root = os.path.join(CACHE, name)
    for k in range(copies):
        for label in sorted(os.listdir(source)):
            folder = os.path.join(source, label)
            if not os.path.isdir(folder):
                continue
            os.makedirs(os.path.join(root, label), exist_ok=True)
            for image in os.listdir(folder):
                link = os.path.join(root, label, f"{k}_{image}")
                if not os.path.lexists(link) and not image.endswith((".gif", ".md")):
                    os.symlink(os.path.abspath(os.path.join(folder, image)), link)
    return root


class Bench:
    def __init__(self, runs):
        self.runs = runs
        self.rows = {}

    def measure(self, name, images, nbytes, make_args, env=None, startup=None):
        times, rss = [], []
        for _ in range(self.runs):
            out = tempfile.mkdtemp(prefix="im2tfrecord-bench-")
            try:
                args = make_args(out)
                start = time.monotonic()
                process = subprocess.Popen(
                    args,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {})),
                )
                _, status, usage = os.wait4(process.pid, 0)
                times.append(time.monotonic() - start)
                rss.append(usage.ru_maxrss / 1024)
                if os.waitstatus_to_exitcode(status) != 0:
                    raise RuntimeError(f"{name} failed:\n{process.stderr.read().decode()[-3000:]}")
            finally:
                shutil.rmtree(out, ignore_errors=True)
        row = self._row(name, images, nbytes, times, statistics.median(rss), startup)
        steady = f", steady {row['steady_images_per_s']} img/s" if "steady_images_per_s" in row else ""
        print(
            f"{name:<44} {row['images_per_s']:8.1f} img/s {row['mb_per_s']:7.1f} MB/s "
            f"{row['peak_rss_mb']:7.1f} MB  (median of {self.runs}: {row['runs_seconds']}){steady}",
            flush=True,
        )
        return row

    def _row(self, name, images, nbytes, times, peak_rss_mb, startup=None):
        seconds = statistics.median(times)
        row = {
            "images": images,
            "seconds": round(seconds, 2),
            "images_per_s": round(images / seconds, 1),
            "mb_per_s": round(nbytes / seconds / 1e6, 1),
            "peak_rss_mb": round(peak_rss_mb, 1) if peak_rss_mb is not None else None,
            "runs_seconds": [round(t, 2) for t in times],
        }
        if startup is not None and seconds > startup:
            row["steady_images_per_s"] = round(images / (seconds - startup), 1)
        self.rows[name] = row
        return row

    def measure_fn(self, name, images, nbytes, fn):
        times = []
        for _ in range(self.runs):
            start = time.monotonic()
            fn()
            times.append(time.monotonic() - start)
        row = self._row(name, images, nbytes, times, None)
        print(
            f"{name:<44} {row['images_per_s']:8.1f} req/s {row['mb_per_s']:7.1f} MB/s "
            f"(median of {self.runs}: {row['runs_seconds']})",
            flush=True,
        )
        return row


def project(input_path, extra=()):
    return lambda out: [
        sys.executable,
        "-m",
        "pipeline",
        "--input",
        input_path,
        "--output",
        out,
        "--num_shards",
        "8",
        *extra,
    ]


def count_images(root):
    return sum(1 for _, _, names in os.walk(root) for n in names if not n.startswith("."))


def upload(client, root, bucket, prefix, limit=None):
    paths = sorted(os.path.join(f, n) for f, _, names in os.walk(root) for n in names if not n.startswith("."))[:limit]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda p: client.upload_file(os.path.realpath(p), bucket, f"{prefix}/{os.path.relpath(p, root)}"), paths
            )
        )
    return len(paths), sum(os.path.getsize(p) for p in paths)


def get_loop(client, bucket, prefix, threads=16):
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
        for item in page.get("Contents", [])
    ]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read(), keys))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    bench = Bench(args.runs)
    hymenoptera = os.path.join(SHARED, "hymenoptera")
    photos = (
        linked_tree(hymenoptera, "hym5", 5)
        if os.path.isdir(hymenoptera)
        else make_tree(os.path.join(CACHE, "photos-2000"), 2, 1000, (440, 370))
    )
    n, nbytes = count_images(photos), folder_bytes(photos)
    print(f"photos: {photos} ({n} images, {nbytes / 1e6:.0f} MB); {os.cpu_count()} cores")

    ten = make_tree(os.path.join(CACHE, "ten"), 2, 5, (440, 370))
    startup = bench.measure("start-up: im2tfrecord on 10 images", 10, folder_bytes(ten), project(ten))
    ratios = {"startup_seconds": startup["seconds"]}

    limit = bench.measure(
        "local: Pillow loop, all cores (limit)", n, nbytes, lambda out: [sys.executable, "bench/pillow_loop.py", photos]
    )
    limit_draft = bench.measure(
        "local: Pillow loop + draft, all cores",
        n,
        nbytes,
        lambda out: [sys.executable, "bench/pillow_loop.py", photos, "--draft"],
    )
    ours = bench.measure("local: im2tfrecord, local runner", n, nbytes, project(photos), startup=startup["seconds"])
    naive = bench.measure(
        "local: naive Beam pipeline", n, nbytes, lambda out: [sys.executable, "bench/naive_pipeline.py", photos, out]
    )
    ratios.update(
        {
            "local_vs_limit": ours["images_per_s"] / limit["images_per_s"],
            "local_steady_vs_limit": ours["steady_images_per_s"] / limit["images_per_s"],
            "local_steady_vs_draft_limit": ours["steady_images_per_s"] / limit_draft["images_per_s"],
            "local_vs_naive": ours["images_per_s"] / naive["images_per_s"],
        }
    )

    large_source = os.path.join(SHARED, "large", "camera_exif")
    if os.path.isdir(large_source):
        large = os.path.join(CACHE, "large16")
        for k in range(16):
            os.makedirs(os.path.join(large, "camera"), exist_ok=True)
            for image in os.listdir(large_source):
                link = os.path.join(large, "camera", f"{k}_{image}")
                if image.lower().endswith(".jpg") and not os.path.lexists(link):
                    os.symlink(os.path.abspath(os.path.join(large_source, image)), link)
        ln, lbytes = count_images(large), folder_bytes(large)
        full = bench.measure(
            "large: Pillow loop, full decode", ln, lbytes, lambda out: [sys.executable, "bench/pillow_loop.py", large]
        )
        draft = bench.measure(
            "large: Pillow loop + draft",
            ln,
            lbytes,
            lambda out: [sys.executable, "bench/pillow_loop.py", large, "--draft"],
        )
        ours_large = bench.measure(
            "large: im2tfrecord, local runner", ln, lbytes, project(large), startup=startup["seconds"]
        )
        ratios["large_vs_draft_limit"] = ours_large["images_per_s"] / draft["images_per_s"]
        ratios["large_steady_vs_draft_limit"] = ours_large["steady_images_per_s"] / draft["images_per_s"]
        ratios["large_draft_vs_full"] = draft["images_per_s"] / full["images_per_s"]

    if not args.skip_s3:
        log_dir = tempfile.mkdtemp(prefix="im2tfrecord-moto-")
        server, endpoint = start_moto_server(os.path.join(log_dir, "moto.log"))
        try:
            client = boto3.session.Session().client("s3", endpoint_url=endpoint, **S3_KEYS)
            client.create_bucket(Bucket="bench")
            sn, sbytes = upload(client, photos, "bench", "photos")
            kn, kbytes = upload(client, photos, "bench", "sample", limit=NAIVE_S3_IMAGES)
            flags = [
                f"--s3_endpoint_url={endpoint}",
                "--s3_access_key_id=bench",
                "--s3_secret_access_key=bench-secret-key",
                "--s3_region_name=us-east-1",
            ]
            gets = bench.measure_fn(
                "s3: threaded boto3 GET loop (16 threads)", sn, sbytes, lambda: get_loop(client, "bench", "photos")
            )
            ours_s3 = bench.measure(
                "s3: im2tfrecord, local runner",
                sn,
                sbytes,
                project("s3://bench/photos", flags),
                startup=startup["seconds"],
            )
            naive_s3 = bench.measure(
                f"s3: naive Beam pipeline ({kn} images)",
                kn,
                kbytes,
                lambda out: [sys.executable, "bench/naive_pipeline.py", "s3://bench/sample", out, *flags],
            )
            ratios["s3_vs_get_loop"] = ours_s3["images_per_s"] / gets["images_per_s"]
            ratios["s3_steady_vs_get_loop"] = ours_s3["steady_images_per_s"] / gets["images_per_s"]
            ratios["s3_vs_naive"] = ours_s3["images_per_s"] / naive_s3["images_per_s"]
        finally:
            stop_server(server)

    ratios = {k: round(v, 2) for k, v in ratios.items()}
    print(json.dumps(ratios, indent=2))
    os.makedirs(RESULTS, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    with open(os.path.join(RESULTS, "throughput.json"), "w") as f:
        json.dump({"machine": machine, "runs": args.runs, "rows": bench.rows, "ratios": ratios}, f, indent=2)
    with open(os.path.join(RESULTS, "throughput.md"), "w") as f:
        f.write(f"Machine: {machine}; median of {args.runs} runs, each a fresh process timed end to end.\n\n")
        f.write(
            "| measurement | images | images/s | steady images/s | MB/s read | peak RSS MB |\n"
            "|---|---|---|---|---|---|\n"
        )
        for name, row in bench.rows.items():
            f.write(
                f"| {name} | {row['images']} | {row['images_per_s']} | "
                f"{row.get('steady_images_per_s', '-')} | {row['mb_per_s']} | "
                f"{row['peak_rss_mb'] if row['peak_rss_mb'] is not None else '-'} |\n"
            )
        f.write("\n| ratio | value |\n|---|---|\n")
        for name, value in ratios.items():
            f.write(f"| {name} | {value} |\n")


if __name__ == "__main__":
    main()
