"""What --statistics before_encoding (the default) gives up and saves.

Run: .venv/bin/python bench/bench_statistics.py [--runs 3]
About 3 minutes here. Results: bench/results/statistics.json.

1. How far apart: every hymenoptera photo, and the same photos made small
   (bench_throughput.small_sources), converted at the defaults; per channel,
   the mean and standard deviation (0-255) over all stored images of
   - what the default counts: every 4th row and column of the pixels given
     to the JPEG encoder (`ConvertedImage.histogram`),
   - every pixel given to the encoder,
   - the stored JPEGs decoded by Pillow (what --statistics stored counts,
     and pipeline.read yields),
   - the stored JPEGs decoded by TensorFlow's default IDCT
     (tf.io.decode_jpeg without dct_method: the fast integer one).
   Reported: each of the decoders' values minus the default's, per channel.
2. What it costs: ms per image of `imaging.convert_image` with each
   --statistics value, in this process, one thread, rounds interleaved,
   medians; the difference is the second decode. And what the default's
   statistics do per image (a histogram of a sample of the pixels in memory,
   counted into a shard's totals), timed alone, as a share of the conversion.
"""

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_duplicates import HYMENOPTERA  # noqa: E402
from bench_duplicates import _photos  # noqa: E402
from bench_throughput import small_sources  # noqa: E402

from transforms import imaging  # noqa: E402
from transforms.statistics import Statistics  # noqa: E402
from transforms.statistics import summarize  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "statistics.json")


class _Moments:
    """Per-channel sums over many images, as float64 (exact enough here:
    the values compared differ in the second decimal)."""

    def __init__(self):
        self.n, self.total, self.squares = 0, 0.0, 0.0

    def add(self, pixels):
        flat = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64)
        self.n += len(flat)
        self.total = self.total + flat.sum(axis=0)
        self.squares = self.squares + (flat * flat).sum(axis=0)

    def mean_std(self):
        mean = self.total / self.n
        return mean, np.sqrt(self.squares / self.n - mean * mean)


def _pixels_before_encoding(data):
    """The conversion's pixels before encoding: the PNG of the same settings
    stores exactly those (a lossless encoder)."""
    png = imaging.convert_image(data, imaging.ImageSettings(image_format="png")).encoded
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def differences(photos):
    import tensorflow as tf

    default, before, pillow, tf_default = Statistics(), _Moments(), _Moments(), _Moments()
    for data in photos:
        converted = imaging.convert_image(data, imaging.ImageSettings())
        default.add_image(converted.histogram, (1, 1), (1, 1))
        before.add(_pixels_before_encoding(data))
        with Image.open(io.BytesIO(converted.encoded)) as image:
            pillow.add(np.asarray(image.convert("RGB")))
        tf_default.add(tf.io.decode_jpeg(converted.encoded, channels=3).numpy())
    summary = summarize(default)
    base_mean, base_std = np.array(summary["mean"]), np.array(summary["std"])
    row = {"images": len(photos), "default": {"mean": _r(base_mean), "std": _r(base_std)}}
    for name, moments in (
        ("every_pixel_before_encoding", before),
        ("pillow", pillow),
        ("tensorflow_default", tf_default),
    ):
        mean, std = moments.mean_std()
        row[name] = {"mean_minus_default": _r(mean - base_mean), "std_minus_default": _r(std - base_std)}
    return row


def cost(photos, runs):
    """Median ms per image of the conversion with each --statistics value."""
    times = {value: [] for value in imaging.STATISTICS_PIXELS}
    for _ in range(runs):
        for value in imaging.STATISTICS_PIXELS:
            settings = imaging.ImageSettings(statistics=value)
            start = time.perf_counter()
            for data in photos:
                imaging.convert_image(data, settings)
            times[value].append((time.perf_counter() - start) / len(photos) * 1000)
    ms = {value: round(statistics.median(t), 3) for value, t in times.items()}
    # What the default's statistics do per image: a histogram of a sample of
    # the pixels in memory (imaging._histogram), counted into a shard's totals.
    settings = imaging.ImageSettings(image_format="png")
    resized = []
    for data in photos:
        with Image.open(io.BytesIO(imaging.convert_image(data, settings).encoded)) as image:
            resized.append(image.convert("RGB"))
    counting = []
    for _ in range(runs):
        totals = Statistics()
        start = time.perf_counter()
        for image in resized:
            totals.add_image(imaging._histogram(image, settings), image.size, image.size)
        counting.append((time.perf_counter() - start) / len(resized) * 1000)
    default_ms = statistics.median(counting)
    return {
        "ms_per_image": ms,
        "stored_over_default": round(ms["stored"] / ms["before_encoding"], 3),
        "default_statistics_ms_per_image": round(default_ms, 4),
        "default_statistics_share": round(default_ms / ms["before_encoding"], 4),
    }


def _r(values):
    return [round(float(v), 3) for v in values]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    for name, root in (("hymenoptera", HYMENOPTERA), ("small", small_sources(HYMENOPTERA))):
        photos = list(_photos(root))
        results[name] = {"differences": differences(photos), "cost": cost(photos, args.runs)}
        print(name, json.dumps(results[name], indent=1), flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
