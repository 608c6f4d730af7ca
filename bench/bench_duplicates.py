"""What the duplicate report, the statistics and --dedupe cost.

Run: .venv/bin/python bench/bench_duplicates.py [--runs 3] [--images 2000]
About 5 minutes here.

1. Per image, in this process (one thread, every hymenoptera photo, --runs
   rounds, median per image): the conversion itself (`imaging.convert_image`
   at the defaults) against what every run adds to it for the duplicate
   report: the sha256 of the source and of the stored image, and
   `Statistics.add_image`.
2. Whole runs, fresh processes, interleaved round by round
   (bench_throughput.Bench), medians: the default against --dedupe on
   --images distinct synthetic photos (bench/images.py, hymenoptera's median
   size; no copies, so --dedupe writes them all and its cost is the hashing
   pass alone), and on hymenoptera linked over and over to --images (every
   photo about 5 times: --dedupe writes one of each).
Results: bench/results/duplicates.json.
"""

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_throughput import CACHE  # noqa: E402
from bench_throughput import SHARED  # noqa: E402
from bench_throughput import Bench  # noqa: E402
from bench_throughput import count_images  # noqa: E402
from bench_throughput import linked_tree  # noqa: E402
from bench_throughput import ours  # noqa: E402
from images import folder_bytes  # noqa: E402
from images import make_tree  # noqa: E402

from transforms import imaging  # noqa: E402
from transforms.statistics import Statistics  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "duplicates.json")
HYMENOPTERA = os.path.join(SHARED, "hymenoptera")


def _photos(root):
    for folder, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            if name.lower().endswith((".jpg", ".jpeg")):
                with open(os.path.join(folder, name), "rb") as f:
                    yield f.read()


def per_image(runs):
    """Median ms per image of the conversion at the defaults (its sampled
    histogram included: bench_statistics.py times that alone), and of what
    the duplicate report adds to it: the sha256 of the source and of the
    stored image, and the image's count into a shard's Statistics."""
    settings = imaging.ImageSettings()
    photos = list(_photos(HYMENOPTERA))
    convert, added = [], []
    for _ in range(runs):
        for data in photos:
            start = time.perf_counter()
            converted = imaging.convert_image(data, settings)
            converted_at = time.perf_counter()
            hashlib.sha256(data).hexdigest()
            hashlib.sha256(converted.encoded).hexdigest()
            Statistics().add_image(converted.histogram, (1, 1), (converted.width, converted.height))
            end = time.perf_counter()
            convert.append(converted_at - start)
            added.append(end - converted_at)
    row = {
        "images": len(photos),
        "rounds": runs,
        "convert_ms": round(statistics.median(convert) * 1e3, 3),
        "hashes_and_statistics_ms": round(statistics.median(added) * 1e3, 3),
    }
    row["added_share"] = round(sum(added) / sum(convert), 4)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()

    load_before = os.getloadavg()
    added = per_image(args.runs)
    print(
        f"per image: convert {added['convert_ms']:.2f} ms, hashes and statistics "
        f"{added['hashes_and_statistics_ms']:.3f} ms (in all {100 * added['added_share']:.1f}% "
        "of the conversion's time)",
        flush=True,
    )

    distinct = make_tree(os.path.join(CACHE, f"distinct-{args.images}"), 2, args.images // 2, (440, 370))
    copies = linked_tree(f"hymenoptera-{args.images}", [HYMENOPTERA], args.images)
    bench = Bench(args.runs)
    for name, tree in (("distinct", distinct), ("hymenoptera x5", copies)):
        images, nbytes = count_images(tree), folder_bytes(tree)
        bench.add(f"{name}: default", images, nbytes, ours(tree))
        bench.add(f"{name}: --dedupe", images, nbytes, ours(tree, "--dedupe"))
    bench.run_all()
    rows = bench.rows
    ratios = {
        name: round(rows[f"{name}: --dedupe"]["seconds"] / rows[f"{name}: default"]["seconds"], 3)
        for name in ("distinct", "hymenoptera x5")
    }
    for name, ratio in ratios.items():
        print(f"{name}: --dedupe takes {ratio:.2f}x the default's time")
    load_after = os.getloadavg()
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(
            {
                "machine": {
                    "platform": platform.platform(),
                    "cores": os.cpu_count(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in load_after],
                },
                "per_image": added,
                "runs": rows,
                "dedupe_time_ratio": ratios,
            },
            f,
            indent=2,
        )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
