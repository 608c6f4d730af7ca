"""Listing cost: one serial listing of a prefix (what Beam's S3 match does)
against a top-level listing plus one listing per class folder in parallel
(what MatchImages spreads over workers), on the local S3 server.

Run: .venv/bin/python bench/bench_listing.py [--folders 40] [--per-folder 500] [--workers 8]
Prints the measured time per 1,000-key page, both listing times (median of 3),
and what the page time implies for 1 million and 100 million keys.

     .venv/bin/python bench/bench_listing.py --flat 100000 --server gofakes3 --workers 16
One prefix of flat keys listed serially and in key ranges (key_ranges.py,
as MatchImages lists a class folder), the ranges on --workers threads.

     .venv/bin/python bench/bench_listing.py --simulate 100000000
     .venv/bin/python bench/bench_listing.py --shapes 1000000
The requests and the longest chain of pages of one prefix listed in key
ranges, counted over keys in memory (no server): numbered keys made when
read, or keys of several shapes of names.
"""

import argparse
import bisect
import concurrent.futures
import hashlib
import math
import os
import statistics
import sys
import tempfile
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.servers import start_gofakes3_server  # noqa: E402
from tests.servers import start_moto_server  # noqa: E402
from tests.servers import stop_server  # noqa: E402
from transforms import key_ranges  # noqa: E402

_PAGE = 1000  # S3 returns at most 1,000 keys per ListObjectsV2 request.


def list_all(client, bucket, prefix, delimiter=None):
    kwargs = {"Delimiter": delimiter} if delimiter else {}
    keys, folders = 0, []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **kwargs):
        keys += len(page.get("Contents", []))
        folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, folders


def _listed_round(client, key_range, cut):
    """key_ranges.list_round with its keys listed now (its last round yields
    them as pages come), in the thread that lists the range."""
    listed, pieces = key_ranges.list_round(client, key_range, cut)
    return list(listed), pieces


def list_in_ranges(client, bucket, prefix, workers):
    """The keys under `prefix` listed as MatchImages lists a class folder
    (transforms/key_ranges.py): a page of each range, what is left cut into
    ranges for the next round, the last round to their end; each round's
    ranges on `workers` threads, as a cluster's workers take them. Returns
    (keys, ranges listed)."""
    ranges, keys, listed = [key_ranges.KeyRange(bucket, prefix)], [], 0
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for round_ in range(key_ranges.SPLIT_ROUNDS + 1):
            cut = round_ < key_ranges.SPLIT_ROUNDS
            results = list(pool.map(lambda key_range, cut=cut: _listed_round(client, key_range, cut), ranges))
            listed += len(ranges)
            keys += [item.key for page, _ in results for item in page]
            ranges = [piece for _, pieces in results for piece in pieces]
    return keys, listed


class _SortedKeys:
    """A stand-in for S3's ListObjectsV2 over an in-memory sorted key list,
    to count the pages and ranges a listing of millions of keys takes (no
    server here could hold and serve them in useful time); counts requests."""

    def __init__(self, keys):
        self.keys, self.requests = keys, 0

    def list_objects_v2(self, Bucket, Prefix, MaxKeys, StartAfter=None):  # noqa: N803  boto3's names.
        self.requests += 1
        i = bisect.bisect_right(self.keys, StartAfter) if StartAfter is not None else 0
        page = self.keys[i : i + MaxKeys]
        return {"Contents": [{"Key": k, "Size": 0} for k in page], "IsTruncated": i + MaxKeys < len(self.keys)}


class _NumberedKeys:
    """The sorted keys flat/00000000.jpg, flat/00000001.jpg, ... made when
    read: 100 million of them would not fit in this machine's memory as a list."""

    def __init__(self, count):
        self._count = count

    def __len__(self):
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not 0 <= index < self._count:
            raise IndexError(index)
        return f"flat/{index:08d}.jpg"


_WORDS = ("apple", "banana", "cherry", "damson", "elder", "fig")


def _shapes(n):
    """Sorted key lists of n keys under flat/, named as data sets name files."""
    return {
        "00000000.jpg": [f"flat/{i:08d}.jpg" for i in range(n)],
        "img_N.jpg (unpadded)": sorted(f"flat/img_{i}.jpg" for i in range(n)),
        "cat_NNNNN.jpg, dog_NNNNN.jpg": sorted(f"flat/{a}_{i:05d}.jpg" for a in ("cat", "dog") for i in range(n // 2)),
        "é/ü/日 + 6 digits": sorted(f"flat/{'éü日'[i % 3]}{i:06d}.png" for i in range(n)),
        "n01440764_N.JPEG (ImageNet)": sorted(f"flat/n01440764_{i}.JPEG" for i in range(10_000, 10_000 + n)),
        "20 hex digits": sorted(f"flat/{hashlib.md5(str(i).encode()).hexdigest()[:20]}.jpg" for i in range(n)),
        "6 words + 4 digits": sorted(f"flat/{w}_{i:04d}.jpg" for w in _WORDS for i in range(n // len(_WORDS))),
    }


def simulate_shapes(n):
    """simulate() over n keys of each of several shapes of names."""
    for name, keys in _shapes(n).items():
        simulate(len(keys), keys=keys, label=name)


def simulate(count, keys=None, label="00000000.jpg"):
    """The ranges, requests and longest chain of pages one range lists when
    one prefix of `count` keys (made when read, or `keys`) is listed in key ranges."""
    client = _SortedKeys(keys if keys is not None else _NumberedKeys(count))
    ranges, found, rounds, chains = [key_ranges.KeyRange("flat", "flat/")], 0, 0, []
    for round_ in range(key_ranges.SPLIT_ROUNDS + 1):
        cut, left = round_ < key_ranges.SPLIT_ROUNDS, []
        rounds += bool(ranges) and cut  # A round of one page a range.
        for key_range in ranges:
            before = client.requests
            listed, pieces = _listed_round(client, key_range, cut)
            found += len(listed)
            left += pieces
            if not cut:
                chains.append(client.requests - before)
        ranges = left
    assert found == count
    pages = math.ceil(count / _PAGE)
    last = f"last round {len(chains):,} ranges, the longest {max(chains)} pages in a row" if chains else "no last round"
    print(
        f"{count:,} keys ({label}) under one prefix ({pages:,} pages serially): "
        f"{client.requests:,} requests in key ranges; "
        f"{last} (+{rounds} rounds of one page before it): the longest chain {rounds + max(chains, default=0)} pages"
    )


def flat_prefix(endpoint, keys, workers):
    """One prefix of `keys` keys (no folders), listed serially and in ranges."""
    client = _client(endpoint, workers)
    client.create_bucket(Bucket="flat")
    names = [f"flat/{n:08d}.jpg" for n in range(keys)]
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda key: client.put_object(Bucket="flat", Key=key, Body=b""), names))
    serial = median_seconds(lambda: list_all(client, "flat", "flat/"))
    found, ranges = list_in_ranges(client, "flat", "flat/", workers)
    assert sorted(found) == names, "the ranges did not list the prefix exactly"
    parallel = median_seconds(lambda: list_in_ranges(client, "flat", "flat/", workers))
    print(f"{keys:,} keys under one prefix:")
    print(f"  serial listing ({math.ceil(keys / _PAGE)} pages in a row): {serial:6.2f} s")
    print(f"  in key ranges on {workers} threads ({ranges} ranges):   {parallel:6.2f} s  ({serial / parallel:.1f}x)")


def _client(endpoint, workers):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret-key",
        config=boto3.session.Config(max_pool_connections=max(workers, 32)),
    )


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
    parser.add_argument(
        "--flat",
        type=int,
        default=0,
        help="instead: one prefix of this many keys, listed serially and in key ranges (key_ranges.py)",
    )
    parser.add_argument("--server", choices=("moto", "gofakes3"), default="moto")
    parser.add_argument(
        "--simulate",
        type=int,
        default=0,
        help="instead: count the requests and the longest chain of pages of one prefix of this many keys "
        "listed in key ranges, over an in-memory key list (no server)",
    )
    parser.add_argument(
        "--shapes",
        type=int,
        default=0,
        help="instead: --simulate for this many keys of each of several shapes of names (numbered, with a stem, "
        "several stems, not ASCII, hex)",
    )
    args = parser.parse_args()
    if args.simulate:
        simulate(args.simulate)
        return
    if args.shapes:
        simulate_shapes(args.shapes)
        return
    start = start_moto_server if args.server == "moto" else start_gofakes3_server
    server, endpoint = start(os.path.join(tempfile.mkdtemp(), f"{args.server}.log"))
    try:
        if args.flat:
            flat_prefix(endpoint, args.flat, args.workers)
            return
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
