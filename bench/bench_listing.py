"""Listing cost: one serial listing of a prefix (what Beam's S3 match does)
against a top-level listing plus one listing per class folder in parallel
(what MatchImages spreads over workers), on the local S3 server.

Run: .venv/bin/python bench/bench_listing.py [--folders 40] [--per-folder 500] [--workers 8]
Prints the measured time per 1,000-key page, both listing times (median of 3),
and what the page time implies for 1 million and 100 million keys.
"""

import argparse
import concurrent.futures
import math
import os
import statistics
import sys
import tempfile
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.servers import start_moto_server  # noqa: E402
from tests.servers import stop_server  # noqa: E402

_PAGE = 1000  # S3 returns at most 1,000 keys per ListObjectsV2 request.


def list_all(client, bucket, prefix, delimiter=None):
    kwargs = {"Delimiter": delimiter} if delimiter else {}
    keys, folders = 0, []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **kwargs):
        keys += len(page.get("Contents", []))
        folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, folders


def median_seconds(fn, runs=3):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        fn()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=int, default=40)
    parser.add_argument("--per-folder", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    server, endpoint = start_moto_server(os.path.join(tempfile.mkdtemp(), "moto.log"))
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret-key",
            config=boto3.session.Config(max_pool_connections=args.workers),
        )
        client.create_bucket(Bucket="listing")
        keys = [f"in/class_{f:04d}/{n:06d}.jpg" for f in range(args.folders) for n in range(args.per_folder)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda key: client.put_object(Bucket="listing", Key=key, Body=b""), keys))
        total = len(keys)

        serial = median_seconds(lambda: list_all(client, "listing", "in/"))

        def parallel():
            _, folders = list_all(client, "listing", "in/", delimiter="/")
            with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
                assert sum(pool.map(lambda f: list_all(client, "listing", f)[0], folders)) == total

        spread = median_seconds(parallel)
        page = serial / math.ceil(total / _PAGE)
        print(f"{total} keys in {args.folders} folders on the local S3 server:")
        print(f"  serial listing (Beam's match):              {serial:6.2f} s  ({page * 1000:.0f} ms per page)")
        print(
            f"  top level + {args.workers} parallel folder listings: {spread:6.2f} s  ({serial / spread:.1f}x faster)"
        )
        for n, classes in ((1_000_000, 1000), (100_000_000, 1000)):
            pages = n / _PAGE
            per_class_pages = math.ceil(n / classes / _PAGE)
            for workers in (16, 128):
                rounds = math.ceil(classes / workers)
                print(
                    f"  {n:>11,} keys, {classes} classes: serial {pages * page / 60:7.1f} min; "
                    f"{workers} workers {rounds * per_class_pages * page / 60:6.1f} min"
                )
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
