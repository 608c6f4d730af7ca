"""`im2tfrecord upload` against a loop of boto3's upload_file (one file at a
time; boto3 still sends a big file's parts on 10 threads), on the local S3
server: many small images, a few big files, and a rerun where everything is
already there (the loop has no skip: it uploads again).

The local server answers in about a millisecond, and it is one Python process
on the same CPUs as the client, so it is the bottleneck of both sides. Real S3
is the opposite: many servers, tens of milliseconds away. Each scenario is
therefore also run through a proxy that holds every chunk the server sends
for --latency_ms (responses come late; request bodies pass at full speed).

With the AWS CLI (awscli 1.46.2, made once in .cache/awscli-venv: a side
environment, since it pins its own botocore), two more columns time whole
processes as a user runs them, start-up included: `python -m pipeline
upload` and `aws s3 sync` at its defaults.

Run: .venv/bin/python bench/bench_upload.py [--small 600] [--small_kb 100] [--big 4] [--big_mb 48]
                                            [--tree PATH] [--latency_ms 0,20] [--runs 3]
                                            [--server moto|gofakes3] [--no_aws_cli]
--tree uploads an existing folder instead of the generated small files.
Prints the median of --runs runs of each, interleaved, in seconds and MB/s.
"""

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from pipeline.upload import main as upload  # noqa: E402
from tests.servers import start_gofakes3_server  # noqa: E402
from tests.servers import start_moto_server  # noqa: E402
from tests.servers import stop_server  # noqa: E402
from tests.side_env import SideEnvironment  # noqa: E402
from tests.side_env import Unavailable  # noqa: E402

_BUCKET = "bench"
# The AWS CLI v1 as the issue that asked for it measured it; it pins its own
# botocore, so it lives in an environment of its own.
AWS_CLI = SideEnvironment("awscli-venv", ("awscli==1.46.2",), "import awscli", base_python="python3.11")
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


def _upload_args(endpoint, root, prefix, *flags):
    return [
        root,
        f"s3://{_BUCKET}/{prefix}",
        f"--s3_endpoint_url={endpoint}",
        f"--s3_region_name={_CREDENTIALS['region_name']}",
        f"--s3_access_key_id={_CREDENTIALS['aws_access_key_id']}",
        f"--s3_secret_access_key={_CREDENTIALS['aws_secret_access_key']}",
        *flags,
    ]


def ours(endpoint, root, prefix, *flags):
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        assert upload.main(_upload_args(endpoint, root, prefix, *flags)) == 0


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


def process_ours(endpoint, root, prefix):
    """`im2tfrecord upload` as a user runs it: a fresh process, start-up included."""
    _quiet_process([sys.executable, "-m", "pipeline", "upload", *_upload_args(endpoint, root, prefix)])


def aws_s3_sync(aws, endpoint, root, prefix):
    """`aws s3 sync` at its defaults (10 requests at once, 8 MiB parts), a
    fresh process: skips a file whose object has its size and an mtime not
    older, as ours skips identical ones."""
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=_CREDENTIALS["aws_secret_access_key"],
        AWS_DEFAULT_REGION=_CREDENTIALS["region_name"],
    )
    _quiet_process([aws, "s3", "sync", root, f"s3://{_BUCKET}/{prefix}", "--endpoint-url", endpoint], env)


def _quiet_process(command, env=None):
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode:
        raise RuntimeError(f"{command[:4]} failed: {result.stderr[-2000:]}")


def columns(endpoint, client, aws):
    """(name, fn(root, prefix)) of each way of uploading compared."""
    found = [
        ("upload (16 threads)", lambda root, prefix: ours(endpoint, root, prefix)),
        ("upload --threads 1", lambda root, prefix: ours(endpoint, root, prefix, "--threads", "1")),
        ("upload_file loop", lambda root, prefix: loop(client, root, prefix)),
    ]
    if aws:
        found += [
            ("upload, a process", lambda root, prefix: process_ours(endpoint, root, prefix)),
            ("aws s3 sync", lambda root, prefix: aws_s3_sync(aws, endpoint, root, prefix)),
        ]
    return found


def scenario_rows(endpoint, trees, runs, cleaner, aws):
    """(name, MB, {column: median seconds}) for each (name, folder) of
    `trees`, then for a rerun of the first; each column's runs of a row
    interleaved with the others'."""
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, **_CREDENTIALS)
    ways = columns(endpoint, client, aws)
    rows = [(name, tree_bytes(root) / 1e6, _medians(ways, runs, root, "", cleaner)) for name, root in trees]
    small = trees[0][1]
    for column, upload_with in ways:  # Everything there already, at each one's own prefix.
        upload_with(small, f"again-{column.replace(' ', '_')}")
    rows.append((f"rerun, {trees[0][0]}: all there", tree_bytes(small) / 1e6, _medians(ways, runs, small, "again")))
    clear(cleaner)
    return rows


def _medians(ways, runs, root, prefix, emptied=None):
    """{column: median seconds} of uploading `root` each way, the runs of
    each way interleaved with the others'; under `prefix`-<column> (the
    same each run) if given, else a new prefix each run, and the `emptied`
    client's bucket emptied after each."""
    times = {column: [] for column, _ in ways}
    for n in range(runs):
        for column, upload_with in ways:
            where = f"{prefix or 'run'}-{column.replace(' ', '_')}" + ("" if prefix else f"-{n}")
            start = time.monotonic()
            upload_with(root, where)
            times[column].append(time.monotonic() - start)
            if emptied:
                clear(emptied)
    return {column: statistics.median(t) for column, t in times.items()}


def print_table(title, rows):
    print(title)
    names = list(rows[0][2])
    print(f"| {'':32} | {'MB':>6} | " + " | ".join(f"{c:>20}" for c in names) + " | loop / upload |")
    print(f"|{'-' * 34}|{'-' * 7}:|" + "|".join(f"{'-' * 21}:" for _ in names) + f"|{'-' * 14}:|")
    for name, mb, seconds in rows:
        cells = " | ".join(f"{s:6.2f} s {mb / s:6.1f} MB/s" for s in seconds.values())
        ratio = seconds["upload_file loop"] / seconds["upload (16 threads)"]
        print(f"| {name:32} | {mb:6.1f} | {cells} | {ratio:12.1f}x |")
    if "aws s3 sync" in names:
        print(
            "aws s3 sync's time over a process of ours (above 1: ours is faster): "
            + ", ".join(
                f"{name}: {seconds['aws s3 sync'] / seconds['upload, a process']:.2f}" for name, _, seconds in rows
            )
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=600)
    parser.add_argument("--small_kb", type=int, default=100)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--big_mb", type=int, default=48)
    parser.add_argument("--tree", help="an existing folder to upload instead of the generated small files")
    parser.add_argument("--latency_ms", default="0,20", help="comma-separated; one table each")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", choices=("moto", "gofakes3"), default="moto")
    parser.add_argument(
        "--no_aws_cli", action="store_true", help="leave out the AWS CLI (made once in .cache/awscli-venv)"
    )
    args = parser.parse_args()
    aws = None
    if not args.no_aws_cli:
        try:
            AWS_CLI.ensure()
            aws = AWS_CLI.bin("aws")
        except Unavailable as e:
            print(f"aws s3 sync left out: {e}", flush=True)
    work = tempfile.mkdtemp(prefix="bench_upload.")
    start = start_moto_server if args.server == "moto" else start_gofakes3_server
    server, endpoint = start(os.path.join(work, f"{args.server}.log"))
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
            rows = scenario_rows(via, trees, args.runs, cleaner, aws)
            print_table(
                f"\nmedian of {args.runs} runs, local {args.server} server, {os.cpu_count()} CPUs, "
                f"{latency_ms} ms added to each response",
                rows,
            )
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
