"""The manifest reader alone: rows per second of reading a CSV manifest
serially (a text stream from the top, as the reader did before ranges) and
in byte ranges (transforms/line_ranges.py), one process, and the ranges
shared by several processes; no Beam.

Run: .venv/bin/python bench/bench_manifest_read.py [--rows 1000000] [--runs 3]
     [--processes 2] [--range-bytes 4194304]

Each run parses every row into manifest Rows (manifest.numbered_rows, what
ReadManifest's workers do before resolving paths and labels); the serial,
ranged and parallel runs are interleaved, and medians reported. The manifest
is bench_planning's (`write_manifest`: 1,000 classes, 55-character paths),
written once to a temporary folder. Results go to
bench/results/manifest-read.json.
"""

import argparse
import functools
import io
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.bench_planning import write_manifest  # noqa: E402
from transforms import line_ranges  # noqa: E402
from transforms import manifest  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "manifest-read.json")


def _open_read(path, start):
    stream = open(path, "rb")
    stream.seek(start)
    return stream


def read_serially(path):
    """Rows of the manifest read from the top as one text stream."""
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return sum(1 for _ in manifest.rows(text, manifest.CSV))


def read_range(path, columns, header_end, byte_range):
    """Rows of one range, as a worker of ReadManifest reads them."""
    lines = (
        (number, line.decode("utf-8"))
        for number, (offset, line) in enumerate(
            line_ranges.lines_in_range(functools.partial(_open_read, path), byte_range), start=1
        )
        if offset >= header_end
    )
    return sum(1 for _ in manifest.numbered_rows(lines, manifest.CSV, None, columns))


def read_in_ranges(path, ranges, columns, header_end, pool=None):
    read = functools.partial(read_range, path, columns, header_end)
    counts = pool.map(read, ranges) if pool else list(map(read, ranges))
    return sum(counts), counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    parser.add_argument("--range-bytes", type=int, default=line_ranges.RANGE_BYTES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "labels.csv")
        size = write_manifest(path, args.rows, 1000)
        ranges = line_ranges.byte_ranges(size, args.range_bytes)
        with open(path, "rb") as f:
            first = f.readline()
        columns, header_end = manifest.csv_header([first.decode("utf-8")]), len(first)
        times = {"serial": [], "ranges, one process": [], f"ranges, {args.processes} processes": []}
        with multiprocessing.Pool(args.processes) as pool:
            for _ in range(args.runs):
                for name in times:
                    started = time.perf_counter()
                    if name == "serial":
                        rows = read_serially(path)
                    else:
                        rows, counts = read_in_ranges(
                            path, ranges, columns, header_end, pool if "processes" in name else None
                        )
                    times[name].append(time.perf_counter() - started)
                    assert rows == args.rows, (name, rows)
    result = {
        "rows": args.rows,
        "bytes": size,
        "ranges": len(ranges),
        "rows_per_range": {"min": min(counts), "max": max(counts)},
        "seconds": {name: round(statistics.median(values), 3) for name, values in times.items()},
        "rows_per_second": {name: round(args.rows / statistics.median(values)) for name, values in times.items()},
        "runs": args.runs,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(
        f"{args.rows:,} rows ({size / 2**20:.1f} MiB) in {len(ranges)} ranges of {args.range_bytes:,} bytes "
        f"({min(counts):,} to {max(counts):,} rows each); medians of {args.runs}:"
    )
    for name, seconds in result["seconds"].items():
        print(f"  {name}: {seconds:.2f} s, {result['rows_per_second'][name]:,} rows/s")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
