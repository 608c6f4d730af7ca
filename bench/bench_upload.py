"""`im2tfrecord upload` against a loop of boto3's upload_file (one file at a
time; boto3 still sends a big file's parts on 10 threads), on the local S3
server: many small images, a few big files, and a rerun where everything is
already there (the loop has no skip: it uploads again).

The local server answers in about a millisecond, and it is one Python process
on the same CPUs as the client, so it is the bottleneck of both sides. Real S3
is the opposite: many servers, tens of milliseconds away. Each scenario is
therefore also run through a proxy that holds every chunk the server sends
for --latency_ms (responses come late; request bodies pass at full speed).

Run: .venv/bin/python bench/bench_upload.py [--small 600] [--small_kb 100] [--big 4] [--big_mb 48]
                                            [--tree PATH] [--latency_ms 0,20] [--runs 3]
--tree uploads an existing folder instead of the generated small files.
Prints the median of --runs runs of each, in seconds and MB/s.
"""

import argparse
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from pipeline.upload import main as upload  # noqa: E402
from tests.servers import start_moto_server  # noqa: E402
from tests.servers import stop_server  # noqa: E402

_BUCKET = "bench"
_CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "bench-access-key",
    "aws_secret_access_key": "bench-secret-key",
}


class LatencyProxy:
    """A TCP proxy that holds each chunk the server sends for `delay_s`."""

    def __init__(self, upstream_port, delay_s):
        self._upstream_port, self._delay_s = upstream_port, delay_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self._listener.accept()
            server = socket.create_connection(("127.0.0.1", self._upstream_port))
            threading.Thread(target=self._pipe, args=(client, server, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, self._delay_s), daemon=True).start()

    @staticmethod
    def _pipe(source, target, delay_s):
        try:
            while data := source.recv(1 << 16):
                time.sleep(delay_s)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def make_tree(root, count, size):
    for n in range(count):
        folder = os.path.join(root, f"class_{n % 10}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{n:05d}.jpg"), "wb") as f:
            f.write(os.urandom(size))  # Incompressible, as JPEG bytes are.
    return root


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(root) for name in names)


def ours(endpoint, root, prefix, *flags):
    argv = [
        root,
        f"s3://{_BUCKET}/{prefix}",
        f"--s3_endpoint_url={endpoint}",
        f"--s3_region_name={_CREDENTIALS['region_name']}",
        f"--s3_access_key_id={_CREDENTIALS['aws_access_key_id']}",
        f"--s3_secret_access_key={_CREDENTIALS['aws_secret_access_key']}",
        *flags,
    ]
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        assert upload.main(argv) == 0


def loop(client, root, prefix):
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            client.upload_file(path, _BUCKET, f"{prefix}/{os.path.relpath(path, root)}")


def clear(client):
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=_BUCKET):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=_BUCKET, Delete={"Objects": keys})


def median_seconds(runs, fn, emptied=None):
    """Median time of fn(run number); the `emptied` client empties the bucket after each run."""
    times = []
    for n in range(runs):
        start = time.monotonic()
        fn(n)
        times.append(time.monotonic() - start)
        if emptied:
            clear(emptied)
    return statistics.median(times)


def scenario_rows(endpoint, trees, runs, cleaner):
    """(name, MB, seconds of: upload, upload --threads 1, the loop) for each
    (name, folder) of `trees`, then for a rerun of the first."""
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, **_CREDENTIALS)
    rows = []
    for name, root in trees:
        rows.append(
            (
                name,
                tree_bytes(root) / 1e6,
                median_seconds(runs, lambda n, root=root: ours(endpoint, root, f"ours{n}"), cleaner),
                median_seconds(runs, lambda n, root=root: ours(endpoint, root, f"one{n}", "--threads", "1"), cleaner),
                median_seconds(runs, lambda n, root=root: loop(client, root, f"loop{n}"), cleaner),
            )
        )
    small = trees[0][1]
    ours(endpoint, small, "again")
    loop(client, small, "again-loop")
    rows.append(
        (
            f"rerun, {trees[0][0]}: all there",
            tree_bytes(small) / 1e6,
            median_seconds(runs, lambda n: ours(endpoint, small, "again")),
            median_seconds(runs, lambda n: ours(endpoint, small, "again", "--threads", "1")),
            median_seconds(runs, lambda n: loop(client, small, "again-loop")),
        )
    )
    clear(cleaner)
    return rows


def print_table(title, rows):
    print(title)
    columns = ("upload (16 threads)", "upload --threads 1", "upload_file loop")
    print(f"| {'':32} | {'MB':>6} | " + " | ".join(f"{c:>20}" for c in columns) + " | loop / upload |")
    print(f"|{'-' * 34}|{'-' * 7}:|" + "|".join(f"{'-' * 21}:" for _ in columns) + f"|{'-' * 14}:|")
    for name, mb, *seconds in rows:
        cells = " | ".join(f"{s:6.2f} s {mb / s:6.1f} MB/s" for s in seconds)
        print(f"| {name:32} | {mb:6.1f} | {cells} | {seconds[2] / seconds[0]:12.1f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=600)
    parser.add_argument("--small_kb", type=int, default=100)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--big_mb", type=int, default=48)
    parser.add_argument("--tree", help="an existing folder to upload instead of the generated small files")
    parser.add_argument("--latency_ms", default="0,20", help="comma-separated; one table each")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench_upload.")
    server, endpoint = start_moto_server(os.path.join(work, "moto.log"))
    try:
        cleaner = boto3.session.Session().client("s3", endpoint_url=endpoint, **_CREDENTIALS)
        cleaner.create_bucket(Bucket=_BUCKET)
        small = args.tree or make_tree(os.path.join(work, "small"), args.small, args.small_kb * 1000)
        big = make_tree(os.path.join(work, "big"), args.big, args.big_mb * 1024 * 1024)
        small_name = os.path.basename(args.tree.rstrip("/")) if args.tree else f"{args.small} x {args.small_kb} KB"
        trees = [(small_name, small), (f"{args.big} x {args.big_mb} MiB", big)]
        port = int(endpoint.rsplit(":", 1)[1])
        for latency_ms in (int(ms) for ms in args.latency_ms.split(",")):
            via = LatencyProxy(port, latency_ms / 1000).endpoint if latency_ms else endpoint
            rows = scenario_rows(via, trees, args.runs, cleaner)
            print_table(
                f"\nmedian of {args.runs} runs, local moto server, {os.cpu_count()} CPUs, "
                f"{latency_ms} ms added to each response",
                rows,
            )
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
