"""Peak memory against dataset size: does 10x the images raise peak RSS?

Run: .venv/bin/python bench/bench_memory.py [--images N] [--runs R]
Converts N and 10*N synthetic 320x240 JPEGs with each writer (the default
deterministic writer and --writer beam) on the local runner, each run in a
fresh process, and reports the median peak RSS of R runs and the ratio
10N / N. Target: the default writer's ratio at most 1.5.
Results go to bench/results/memory.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from images import make_tree  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
CACHE = os.path.join(ROOT, ".cache", "bench-images")


def peak_rss_mb(args):
    """Runs the CLI in a child process; returns (peak RSS in MB, seconds)."""
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(process.stderr.read().decode()[-2000:])
    return usage.ru_maxrss / 1024, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300, help="N, the smaller dataset (default 300)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = {"N": args.images, "10N": 10 * args.images}
    trees = {
        label: make_tree(os.path.join(CACHE, f"mem-{n}"), classes=2, per_class=n // 2) for label, n in sizes.items()
    }
    results = {}
    for writer in ("deterministic", "beam"):
        for label, tree in trees.items():
            peaks, seconds = [], []
            for _ in range(args.runs):
                out = tempfile.mkdtemp(prefix="im2tfrecord-bench-")
                try:
                    peak, elapsed = peak_rss_mb(
                        ["--input", tree, "--output", out, "--writer", writer, "--num_shards", "4"]
                    )
                finally:
                    shutil.rmtree(out)
                peaks.append(peak)
                seconds.append(elapsed)
            results[(writer, label)] = (statistics.median(peaks), statistics.median(seconds))
            print(
                f"{writer:>13} {label:>3} ({sizes[label]:>5} images): peak RSS "
                f"{results[(writer, label)][0]:7.1f} MB, {results[(writer, label)][1]:5.1f} s "
                f"(median of {args.runs})",
                flush=True,
            )
    summary = {}
    for writer in ("deterministic", "beam"):
        ratio = results[(writer, "10N")][0] / results[(writer, "N")][0]
        summary[writer] = {
            "N": sizes["N"],
            "peak_rss_mb_N": round(results[(writer, "N")][0], 1),
            "peak_rss_mb_10N": round(results[(writer, "10N")][0], 1),
            "ratio": round(ratio, 2),
        }
        print(f"{writer:>13}: 10N/N peak RSS ratio {ratio:.2f}")
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "memory.json"), "w") as f:
        json.dump({"runs": args.runs, "cpus": os.cpu_count(), "results": summary}, f, indent=2)


if __name__ == "__main__":
    main()
