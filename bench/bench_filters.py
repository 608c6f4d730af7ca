"""What each --resize_filter costs: transforms.imaging.convert_image timed per
filter, in this one process, on real photos.

Run: .venv/bin/python bench/bench_filters.py [--rounds R] [--size N]

Images: hymenoptera (../shared/data/hymenoptera: 398 photos, 193 to 2592 px
wide) and the large camera photos (../shared/data/large/camera_exif: 2 to 14
MP), read into memory once; a set that is absent is skipped. Each round times
every filter once over a whole set (a small set several times over, at least
2 s a timing), the filters' order rotating from round to round, so a busy
moment on a shared machine lands on every filter alike.
Reported per filter: the median over the rounds of CPU ms per image (this
process's CPU time: what the filter costs, and less swayed than the wall
clock by other processes on the cores) and of wall ms per image, and the
median over the rounds of its time divided by bicubic's in the same round.
One thread, default settings otherwise (--image_size 256, shorter_side,
JPEG 90). Results go to bench/results/filters.json.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import PIL  # noqa: E402

from transforms.imaging import RESIZE_FILTERS  # noqa: E402
from transforms.imaging import ImageError  # noqa: E402
from transforms.imaging import ImageSettings  # noqa: E402
from transforms.imaging import convert_image  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
SETS = {
    "hymenoptera": os.path.join(SHARED, "hymenoptera"),
    "large camera photos": os.path.join(SHARED, "large", "camera_exif"),
}
RESULTS = os.path.join(ROOT, "bench", "results", "filters.json")
BASELINE = "bicubic"
_MIN_SECONDS = 2.0


def _read_images(folder):
    images = []
    for parent, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            with open(os.path.join(parent, name), "rb") as f:
                images.append(f.read())
    return images


def _convert_all(images, settings, passes=1):
    """(wall seconds, CPU seconds) to convert every image `passes` times, and
    how many were error rows."""
    failed = 0
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(passes):
        for data in images:
            try:
                convert_image(data, settings)
            except ImageError:
                failed += 1
    return (time.perf_counter() - start, time.process_time() - start_cpu), failed // passes


def measure(images, size, rounds):
    filters = list(RESIZE_FILTERS)
    settings = {name: ImageSettings(image_size=size, resize_filter=name) for name in filters}
    failed, warm = {}, {}
    for name in filters:  # Warm-up: caches, allocator, lazy imports.
        warm[name], failed[name] = _convert_all(images, settings[name])
    # A small set is converted several times per timing, so that each takes
    # at least _MIN_SECONDS and a scheduler hiccup is a small share of it.
    passes = max(1, math.ceil(_MIN_SECONDS / min(wall for wall, _ in warm.values())))
    wall = {name: [] for name in filters}
    cpu = {name: [] for name in filters}
    for r in range(rounds):
        for name in filters[r % len(filters) :] + filters[: r % len(filters)]:
            (w, c), _ = _convert_all(images, settings[name], passes)
            wall[name].append(w)
            cpu[name].append(c)
    per_image = 1000 / (len(images) * passes)
    return passes, {
        name: {
            "cpu_ms_per_image": round(per_image * statistics.median(cpu[name]), 3),
            "ratio_to_bicubic": round(
                statistics.median(s / b for s, b in zip(cpu[name], cpu[BASELINE], strict=True)), 3
            ),
            "wall_ms_per_image": round(per_image * statistics.median(wall[name]), 3),
            "wall_ratio_to_bicubic": round(
                statistics.median(s / b for s, b in zip(wall[name], wall[BASELINE], strict=True)), 3
            ),
            "round_cpu_seconds": [round(s, 4) for s in cpu[name]],
            "round_wall_seconds": [round(s, 4) for s in wall[name]],
            "error_rows": failed[name],
        }
        for name in filters
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per set (default: %(default)s)")
    parser.add_argument(
        "--size", type=int, default=ImageSettings().image_size, help="--image_size (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    results = {}
    for set_name, folder in SETS.items():
        if not os.path.isdir(folder):
            print(f"skipped {set_name}: {folder} is absent")
            continue
        images = _read_images(folder)
        print(f"{set_name}: {len(images)} images, {args.rounds} rounds ...", flush=True)
        passes, filters = measure(images, args.size, args.rounds)
        results[set_name] = {"images": len(images), "passes_per_round": passes, "filters": filters}
    report = {
        "machine": {
            "platform": platform.platform(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "pillow": PIL.__version__,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {"image_size": args.size, "rounds": args.rounds, "threads": 1},
        "sets": results,
    }
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")

    print(f"\nconvert_image, one thread, --image_size {args.size}; median of {args.rounds} interleaved rounds")
    print(f"{'set':<20} {'filter':<9} {'CPU ms/image':>12} {'vs bicubic':>11} {'wall ms/image':>14} {'vs bicubic':>11}")
    for set_name, entry in results.items():
        for name, row in entry["filters"].items():
            print(
                f"{set_name:<20} {name:<9} {row['cpu_ms_per_image']:>12.2f} {row['ratio_to_bicubic']:>10.2f}x "
                f"{row['wall_ms_per_image']:>14.2f} {row['wall_ratio_to_bicubic']:>10.2f}x"
            )
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
