"""Throughput against the practical limit, on one machine: local disk, large
camera photos, start-up, and S3 through a local S3 server.

Run: .venv/bin/python bench/bench_throughput.py [--runs 3] [--skip-s3] [--scale 1.0]
One command, about 20 minutes here. Every measurement is a fresh process
timed end to end (start-up included), repeated --runs times, interleaved
round by round so that a slow minute of the machine hits every row alike;
the median is reported, and ratios are taken between medians of this run.
Results: bench/results/throughput.json and throughput.md: every row this run
measured, and the rows of parts it did not run as earlier runs left them,
each with its own number of runs and date. The README's table shows most of
them under the same names, and the ratios between rows of one sitting.

The limit (bench/pillow_loop.py) is a plain Pillow loop over all cores doing
exactly our default's work (tests/test_bench.py checks that its bytes are
ours, image for image): draft decoding, EXIF orientation, RGB, BICUBIC with
reducing_gap=3, JPEG quality 90. Its BILINEAR run shows what the filter costs.

Images: hymenoptera (../shared/data) linked 26 times over, the first 10,000
files (real photos of about 440x370 median size), or synthetic ones of that
size without it; the same photos made small (300 px on the shorter side,
about 400x300, JPEG q90: `small_sources`), linked to 10,000; large/camera_exif linked 48 times over (672 photos of 2 to
14 MP). Steady state is the rate between the 5,000th and the 10,000th image
(between 336 and 672 large photos): (10,000 - 5,000) / (t(10,000) - t(5,000)),
each t the median of its own runs; it leaves start-up out of the figure.
Start-up: 10 images end to end, beside a bare `python -c 'import apache_beam'`
in the same rounds (its yardstick: a whole run within Beam's own import).

S3: gofakes3 (a Go S3 server, built by tests/servers.py with the Go toolchain,
cached under .cache/go; skipped with a message without Go) on the same 2
cores, holding the first 5,000 photos: a threaded boto3 GET loop, the same
work as the limit fed by threaded GETs, and ours from S3 to local disk and
from S3 to S3.
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
import botocore.config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from images import folder_bytes  # noqa: E402
from images import make_tree  # noqa: E402

from tests import mxnet_env  # noqa: E402
from tests.servers import GoUnavailable  # noqa: E402
from tests.servers import start_gofakes3_server  # noqa: E402
from tests.servers import stop_server  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
CACHE = os.path.join(ROOT, ".cache", "bench-images")
RESULTS = os.path.join(ROOT, "bench", "results")
S3_KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret-key", "region_name": "us-east-1"}
S3_FLAGS = ["--s3_access_key_id=bench", "--s3_secret_access_key=bench-secret-key", "--s3_region_name=us-east-1"]
PHOTOS, HALF, NAIVE_PHOTOS, S3_PHOTOS = 10_000, 5_000, 2_000, 5_000
LARGE_COPIES = 48
NAIVE_S3_IMAGES = 60  # The naive S3 read does about 4 images/s: a sample is enough.
GET_THREADS = 16  # As ours uses for S3 by default (--fetch_threads auto).


def source_photos(source):
    """(label, file name, path) of each JPEG in `source`'s class folders, in order."""
    for label in sorted(os.listdir(source)):
        folder = os.path.join(source, label)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith((".jpg", ".jpeg")):
                yield label, name, os.path.join(folder, name)


def linked_tree(name, sources, limit):
    """A tree of symlinks to the images of each `sources` folder's classes,
    copies of the set one after another, stopping at `limit` images."""
    root = os.path.join(CACHE, name)
    marker = f"{root}.complete"  # Beside the tree: the naive pipeline reads hidden files too.
    if os.path.exists(marker):
        return root
    shutil.rmtree(root, ignore_errors=True)
    made, copy = 0, 0
    while made < limit:
        for source in sources:
            for label, name, path in source_photos(source):
                if made == limit:
                    break
                os.makedirs(os.path.join(root, label), exist_ok=True)
                os.symlink(os.path.abspath(path), os.path.join(root, label, f"{copy}_{name}"))
                made += 1
        copy += 1
    open(marker, "w").close()
    return root


def count_images(root):
    return sum(1 for _, _, names in os.walk(root) for n in names if not n.startswith("."))


class Bench:
    """Rows measured round by round: each round runs every row once."""

    def __init__(self, runs):
        self.runs = runs
        self.rows = {}
        self._plan = []
        self.server_pid = None  # A local S3 server whose CPU time each run records, if set.

    def add(self, name, images, nbytes, make_args, note=""):
        self._plan.append((name, images, nbytes, make_args, note))

    def run_all(self):
        times = {name: [] for name, *_ in self._plan}
        rss = {name: [] for name, *_ in self._plan}
        server = {name: [] for name, *_ in self._plan}
        for round_number in range(self.runs):
            for name, _, _, make_args, _ in self._plan:
                server_before = _cpu_seconds(self.server_pid)
                seconds, peak = _timed(name, make_args)
                times[name].append(seconds)
                rss[name].append(peak)
                if self.server_pid is not None:
                    server[name].append(_cpu_seconds(self.server_pid) - server_before)
            print(f"round {round_number + 1}/{self.runs} done", flush=True)
        for name, images, nbytes, _, note in self._plan:
            # None: run in this process. S3 rows start while this process holds
            # the uploaded trees' client state, which a child's peak counts.
            peaks = [peak for peak in rss[name] if peak is not None and not name.startswith("s3:")]
            self.rows[name] = _row(images, nbytes, times[name], statistics.median(peaks) if peaks else None, note)
            row = self.rows[name]
            if server[name]:
                # The S3 server shares the cores: its CPU time over the row's wall time, in cores.
                row["server_cpu_s"] = round(statistics.median(server[name]), 2)
                row["server_cores"] = round(row["server_cpu_s"] / row["seconds"], 2)
            rate = f"{row['images_per_s']:8.1f} img/s {row['mb_per_s']:7.1f} MB/s" if images else " " * 28
            print(
                f"{name:<60} {row['seconds']:7.2f} s (median) {rate} "
                f"{row['peak_rss_mb'] or 0:7.1f} MB peak  runs {row['runs_seconds']}"
                + (f"  S3 server {row['server_cores']} cores" if "server_cores" in row else ""),
                flush=True,
            )
        self._plan = []

    def steady(self, small, big):
        """Images/s between the `small` and the `big` row's image counts."""
        a, b = self.rows[small], self.rows[big]
        rate = (b["images"] - a["images"]) / (b["seconds"] - a["seconds"])
        self.rows[big]["steady_images_per_s"] = round(rate, 1)
        return rate


def _cpu_seconds(pid):
    """User and system CPU seconds process `pid` has used (Linux /proc); 0
    where no process is watched (`pid` None)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(name, make_args):
    out = tempfile.mkdtemp(prefix="im2tfrecord-bench-")
    try:
        args = make_args(out)
        if callable(args):  # A function run here, not a process.
            start = time.monotonic()
            args()
            return time.monotonic() - start, None
        with tempfile.TemporaryFile() as stderr:
            start = time.monotonic()
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            )
            # ru_maxrss: the largest process of the tree (the launcher, or a child it waited for).
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.monotonic() - start
            if os.waitstatus_to_exitcode(status) != 0:
                stderr.seek(0)
                raise RuntimeError(f"{name} failed:\n{stderr.read().decode()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _row(images, nbytes, times, peak_rss_mb, note):
    seconds = statistics.median(times)
    return {
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        "runs": len(times),
        "images": images,
        "seconds": round(seconds, 2),
        "images_per_s": round(images / seconds, 1),
        "mb_per_s": round(nbytes / seconds / 1e6, 1),
        "peak_rss_mb": round(peak_rss_mb, 1) if peak_rss_mb is not None else None,
        "runs_seconds": [round(t, 2) for t in times],
        **({"note": note} if note else {}),
    }


def ours(input_path, *extra, shards=8):
    return lambda out: [
        sys.executable,
        "-m",
        "pipeline",
        "--input",
        input_path,
        "--output",
        out,
        "--num_shards",
        str(shards),
        *extra,
    ]


def limit(root, *extra):
    return lambda out: [sys.executable, "bench/pillow_loop.py", root, *extra]


def naive(input_path, *extra):
    return lambda out: [sys.executable, "bench/naive_pipeline.py", input_path, out, *extra]


def im2rec(python, root):
    """MXNet's own converter, from the tests' side environment: list, then pack
    with 2 threads, shorter side to 256, JPEG quality 90 (OpenCV decodes)."""
    tool = subprocess.run(
        [python, "-c", "import mxnet, os; print(os.path.join(os.path.dirname(mxnet.__file__), 'tools', 'im2rec.py'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not os.path.exists(tool):
        return None

    def command(out):
        prefix = os.path.join(out, "data")
        return [
            "sh",
            "-c",
            f'"{python}" "{tool}" --list --recursive "{prefix}" "{root}" >/dev/null && '
            f'"{python}" "{tool}" --resize 256 --quality 90 --num-thread 2 "{prefix}" "{root}" >/dev/null',
        ]

    return command


def upload(client, root, bucket, prefix):
    paths = sorted(os.path.join(f, n) for f, _, names in os.walk(root) for n in names if not n.startswith("."))
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                # With a Content-Type, as S3 always gives one: gofakes3 gives none
                # unless told, and Beam's S3 reads (the naive pipeline) need it.
                lambda p: client.upload_file(
                    os.path.realpath(p),
                    bucket,
                    f"{prefix}/{os.path.relpath(p, root)}",
                    ExtraArgs={"ContentType": "image/jpeg"},
                ),
                paths,
            )
        )
    return len(paths), sum(os.path.getsize(p) for p in paths)


def get_loop(client, bucket, prefix):
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
        for item in page.get("Contents", [])
    ]
    with concurrent.futures.ThreadPoolExecutor(GET_THREADS) as pool:
        list(pool.map(lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read(), keys))


def startup_rows(bench, ten):
    bench.add("start-up: im2tfrecord on 10 images", 10, folder_bytes(ten), ours(ten))
    # Issue 27's yardstick for start-up: a whole 10-image run within what
    # importing Beam alone takes on the same machine in the same rounds.
    bench.add(
        "start-up: bare `python -c 'import apache_beam'` (reference)",
        0,
        0,
        lambda out: [sys.executable, "-c", "import apache_beam"],
    )
    bench.run_all()
    ours_s = bench.rows["start-up: im2tfrecord on 10 images"]["seconds"]
    bare_s = bench.rows["start-up: bare `python -c 'import apache_beam'` (reference)"]["seconds"]
    return {"startup_seconds": ours_s, "startup_vs_bare_beam_import": round(ours_s / bare_s, 3)}


def local_rows(bench, photos, half, naive_photos):
    n, nbytes = count_images(photos), folder_bytes(photos)
    h, hbytes = count_images(half), folder_bytes(half)
    k, kbytes = count_images(naive_photos), folder_bytes(naive_photos)
    bench.add("local: same-work Pillow loop, all cores (limit)", n, nbytes, limit(photos))
    bench.add(f"local: same-work Pillow loop, {h:,} images", h, hbytes, limit(half))
    bench.add("local: Pillow loop with BILINEAR (for reference)", n, nbytes, limit(photos, "--filter", "bilinear"))
    bench.add("local: im2tfrecord", n, nbytes, ours(photos))
    bench.add(f"local: im2tfrecord, {h:,} images", h, hbytes, ours(half))
    bench.add("local: im2tfrecord --processes 1 (one process)", n, nbytes, ours(photos, "--processes", "1"))
    bench.add(f"local: naive Beam pipeline ({k:,} images)", k, kbytes, naive(naive_photos))
    try:
        command = im2rec(mxnet_env.ensure(), photos)
    except mxnet_env.Unavailable as e:
        command = None
        print(f"im2rec: {e}", flush=True)
    if command:
        bench.add("local: MXNet im2rec (OpenCV, 2 threads)", n, nbytes, command, "other work: OpenCV, no draft")
    bench.run_all()
    r = bench.rows
    steady_limit = bench.steady(
        f"local: same-work Pillow loop, {h:,} images", "local: same-work Pillow loop, all cores (limit)"
    )
    steady_ours = bench.steady(f"local: im2tfrecord, {h:,} images", "local: im2tfrecord")
    lim = r["local: same-work Pillow loop, all cores (limit)"]["images_per_s"]
    mine = r["local: im2tfrecord"]["images_per_s"]
    return {
        "local_vs_limit": mine / lim,
        "local_steady_vs_limit": steady_ours / lim,
        "local_steady_vs_limit_steady": steady_ours / steady_limit,
        "local_one_process_vs_limit": r["local: im2tfrecord --processes 1 (one process)"]["images_per_s"] / lim,
        "bilinear_vs_bicubic_limit": r["local: Pillow loop with BILINEAR (for reference)"]["images_per_s"] / lim,
        "local_vs_naive": mine / r[f"local: naive Beam pipeline ({k:,} images)"]["images_per_s"],
    }


# The small-photo set: each hymenoptera photo reduced to this many pixels on
# its shorter side (about 400x300, as web-scraped and thumbnail datasets
# hold), JPEG quality 90, then linked over and over like the photo set.
SMALL_SHORTER_SIDE = 300


def small_sources(hymenoptera):
    """hymenoptera's photos made small, once, under the cache."""
    root = os.path.join(CACHE, f"small-{SMALL_SHORTER_SIDE}")
    marker = f"{root}.complete"
    if os.path.exists(marker):
        return root
    from PIL import Image  # Here only: the rows time child processes.

    for label, name, path in source_photos(hymenoptera):
        os.makedirs(os.path.join(root, label), exist_ok=True)
        with Image.open(path) as image:
            image = image.convert("RGB")
            scale = SMALL_SHORTER_SIDE / min(image.size)
            if scale < 1:
                size = (round(image.width * scale), round(image.height * scale))
                image = image.resize(size, Image.Resampling.LANCZOS)
            image.save(os.path.join(root, label, name), quality=90)
    open(marker, "w").close()
    return root


def small_rows(bench, photos, half):
    n, nbytes = count_images(photos), folder_bytes(photos)
    h, hbytes = count_images(half), folder_bytes(half)
    bench.add("small: same-work Pillow loop (limit)", n, nbytes, limit(photos))
    bench.add(f"small: same-work Pillow loop, {h:,} images", h, hbytes, limit(half))
    bench.add("small: im2tfrecord", n, nbytes, ours(photos))
    bench.add(f"small: im2tfrecord, {h:,} images", h, hbytes, ours(half))
    bench.run_all()
    r = bench.rows
    steady_limit = bench.steady(f"small: same-work Pillow loop, {h:,} images", "small: same-work Pillow loop (limit)")
    steady_ours = bench.steady(f"small: im2tfrecord, {h:,} images", "small: im2tfrecord")
    lim = r["small: same-work Pillow loop (limit)"]["images_per_s"]
    return {
        "small_vs_limit": r["small: im2tfrecord"]["images_per_s"] / lim,
        "small_steady_vs_limit_steady": steady_ours / steady_limit,
    }


def large_rows(bench, large, large_half):
    n, nbytes = count_images(large), folder_bytes(large)
    h, hbytes = count_images(large_half), folder_bytes(large_half)
    bench.add("large: same-work draft loop (limit)", n, nbytes, limit(large))
    bench.add("large: same-work draft loop, half", h, hbytes, limit(large_half))
    bench.add("large: Pillow loop, full decode, half", h, hbytes, limit(large_half, "--full"))
    bench.add("large: im2tfrecord", n, nbytes, ours(large))
    bench.add("large: im2tfrecord, half", h, hbytes, ours(large_half))
    bench.run_all()
    r = bench.rows
    steady = bench.steady("large: im2tfrecord, half", "large: im2tfrecord")
    lim = r["large: same-work draft loop (limit)"]["images_per_s"]
    return {
        "large_vs_draft_limit": r["large: im2tfrecord"]["images_per_s"] / lim,
        "large_steady_vs_draft_limit": steady / lim,
        "large_draft_vs_full": r["large: same-work draft loop, half"]["images_per_s"]
        / r["large: Pillow loop, full decode, half"]["images_per_s"],
    }


def s3_rows(bench, photos):
    log_dir = tempfile.mkdtemp(prefix="im2tfrecord-gofakes3-")
    try:
        server, endpoint = start_gofakes3_server(os.path.join(log_dir, "gofakes3.log"))
    except GoUnavailable as e:
        print(f"S3 rows skipped: {e}", flush=True)
        return {}
    try:
        client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, config=botocore.config.Config(max_pool_connections=GET_THREADS), **S3_KEYS
        )
        client.create_bucket(Bucket="bench")
        n, nbytes = upload(client, photos, "bench", "photos")
        sample = linked_tree("s3-sample", [photos], NAIVE_S3_IMAGES)
        k, kbytes = upload(client, sample, "bench", "sample")
        client.create_bucket(Bucket="out")
        flags = [f"--s3_endpoint_url={endpoint}", *S3_FLAGS]
        bench.server_pid = server.pid
        bench.add(
            f"s3: threaded boto3 GET loop ({GET_THREADS} threads)",
            n,
            nbytes,
            lambda out: lambda: get_loop(client, "bench", "photos"),
        )
        bench.add(
            "s3: same-work limit (threaded GETs, process pool)",
            n,
            nbytes,
            limit("s3://bench/photos", "--s3-endpoint", endpoint, "--threads", str(GET_THREADS)),
        )
        bench.add("s3: im2tfrecord, S3 to local", n, nbytes, ours("s3://bench/photos", *flags))
        runs = iter(range(10**6))
        bench.add(
            "s3: im2tfrecord, S3 to S3",
            n,
            nbytes,
            lambda out: ours("s3://bench/photos", *flags)(f"s3://out/run-{next(runs)}"),
        )
        bench.add(f"s3: naive Beam pipeline ({k} images)", k, kbytes, naive("s3://bench/sample", *flags))
        bench.run_all()
        r = bench.rows
        lim = r["s3: same-work limit (threaded GETs, process pool)"]["images_per_s"]
        return {
            "s3_to_local_vs_limit": r["s3: im2tfrecord, S3 to local"]["images_per_s"] / lim,
            "s3_to_s3_vs_limit": r["s3: im2tfrecord, S3 to S3"]["images_per_s"] / lim,
            "s3_limit_vs_get_loop": lim / r[f"s3: threaded boto3 GET loop ({GET_THREADS} threads)"]["images_per_s"],
            "s3_vs_naive": r["s3: im2tfrecord, S3 to local"]["images_per_s"]
            / r[f"s3: naive Beam pipeline ({k} images)"]["images_per_s"],
            # Of the 2 cores, what the server took while each ran.
            "s3_server_cores_limit": r["s3: same-work limit (threaded GETs, process pool)"]["server_cores"],
            "s3_server_cores_to_local": r["s3: im2tfrecord, S3 to local"]["server_cores"],
            "s3_server_cores_to_s3": r["s3: im2tfrecord, S3 to S3"]["server_cores"],
        }
    finally:
        bench.server_pid = None
        stop_server(server)
        shutil.rmtree(log_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--scale", type=float, default=1.0, help="image counts times this (a quick try: 0.1)")
    parser.add_argument(
        "--parts",
        default="startup,local,small,large,s3",
        help="which parts to measure (default: all); results of the others are kept from the last run",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    count = lambda n: max(10, int(n * args.scale))  # noqa: E731
    hymenoptera = os.path.join(SHARED, "hymenoptera")
    if os.path.isdir(hymenoptera):
        sources = [hymenoptera]
    else:
        sources = [make_tree(os.path.join(CACHE, "photos-synthetic"), 2, 500, (440, 370))]
    photos = linked_tree(f"photos-{count(PHOTOS)}", sources, count(PHOTOS))
    half = linked_tree(f"photos-{count(HALF)}", sources, count(HALF))
    naive_photos = linked_tree(f"photos-{count(NAIVE_PHOTOS)}", sources, count(NAIVE_PHOTOS))
    ten = make_tree(os.path.join(CACHE, "ten"), 2, 5, (440, 370))
    print(
        f"photos: {photos} ({count_images(photos)} images, {folder_bytes(photos) / 1e6:.0f} MB); {os.cpu_count()} cores"
    )
    bench = Bench(args.runs)
    ratios = {}
    if "startup" in parts:
        ratios.update(startup_rows(bench, ten))
    if "local" in parts:
        ratios.update(local_rows(bench, photos, half, naive_photos))
    if "small" in parts and os.path.isdir(hymenoptera):
        small = small_sources(hymenoptera)
        small_photos = linked_tree(f"small-{count(PHOTOS)}", [small], count(PHOTOS))
        ratios.update(small_rows(bench, small_photos, linked_tree(f"small-{count(HALF)}", [small], count(HALF))))

    large_source = os.path.join(SHARED, "large")
    if "large" in parts and os.path.isdir(large_source):
        copies = max(2, int(LARGE_COPIES * args.scale))
        large = linked_tree(f"large-{copies}", [large_source], 14 * copies)
        large_half = linked_tree(f"large-{copies // 2}", [large_source], 14 * (copies // 2))
        ratios.update(large_rows(bench, large, large_half))
    if "s3" in parts and not args.skip_s3:
        ratios.update(s3_rows(bench, linked_tree(f"photos-{count(S3_PHOTOS)}", sources, count(S3_PHOTOS))))
    write_results(args.runs, bench.rows, {k: round(v, 2) for k, v in ratios.items()})


def write_results(runs, rows, ratios):
    print(json.dumps(ratios, indent=2))
    os.makedirs(RESULTS, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:  # Rows and ratios of parts not measured now stay as the last run left them.
        with open(os.path.join(RESULTS, "throughput.json")) as f:
            last = json.load(f)
        rows, ratios = {**last["rows"], **rows}, {**last["ratios"], **ratios}
    except (OSError, ValueError, KeyError):
        pass
    with open(os.path.join(RESULTS, "throughput.json"), "w") as f:
        json.dump({"machine": machine, "rows": rows, "ratios": ratios}, f, indent=2)
    with open(os.path.join(RESULTS, "throughput.md"), "w") as f:
        f.write(
            f"Machine: {machine}. Each row: the median of its runs, each a fresh process timed end to end; "
            f"this run made {runs} rounds, rows of parts it did not run are as an earlier run left them "
            "(their date and runs say so). Compare rows of one date.\n\n"
        )
        f.write(
            "| measurement | images | seconds | images/s | steady images/s | MB/s read | peak RSS MB "
            "| runs | measured |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
        )
        for name, row in rows.items():
            f.write(
                f"| {name} | {row['images'] or '-'} | {row['seconds']} | "
                f"{row['images_per_s'] if row['images'] else '-'} | "
                f"{row.get('steady_images_per_s', '-')} | {row['mb_per_s'] if row['images'] else '-'} | "
                f"{row['peak_rss_mb'] or '-'} | {row.get('runs', '?')} | {row.get('measured', '?')} |\n"
            )
        f.write("\n| ratio | value |\n|---|---|\n")
        for name, value in ratios.items():
            f.write(f"| {name} | {value} |\n")


if __name__ == "__main__":
    main()
