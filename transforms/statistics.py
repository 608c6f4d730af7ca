"""Per-split statistics of the stored images, exact and the same on every runner.

What a trainer normalises with: each channel's mean and standard deviation,
on the 0-255 and the 0-1 scale, of the pixels --statistics names (by
default a sample of those given to the encoder; or every pixel as stored, a
stored JPEG decoded again: imaging.STATISTICS_PIXELS); and how big the
images were before and after resizing. Each image's histogram is taken as
it is converted, from the pixels already in memory (no second read of the
data), and counted as its record is written (shard_stream.py).

Exact and deterministic: a shard keeps a 256-bin histogram of each channel
(integers), shards are combined by adding them, and the mean and variance
are derived once from the integer totals (sum, sum of squares, count) by
exact integer arithmetic. A floating running mean would depend on the order
in which a runner combines shards; these sums do not.

Sizes are counted in power-of-two buckets of width and of height, each
bucket named by its lower bound ("256": 256 to 511 px).
"""

import math
from fractions import Fraction

import numpy as np

_LEVELS = 256  # 8-bit channels: a level's histogram bin is the level itself.


class Statistics:
    """Integer totals of one shard's (or split's) images; add with `merge`.

    `histograms[c][v]`: pixels of channel c at level v (an int64 array while
    counting; int64 holds 2**63 pixels, 10 million 12 MP images 70,000 times
    over). `source_sizes` and `stored_sizes`: {"width": {bucket: images},
    "height": {...}}."""

    def __init__(self, images=0, channels=0, histograms=None, source_sizes=None, stored_sizes=None):
        self.images = images
        self.channels = channels
        self.histograms = None if histograms is None else np.asarray(histograms, dtype=np.int64)
        self.source_sizes = source_sizes or {"width": {}, "height": {}}
        self.stored_sizes = stored_sizes or {"width": {}, "height": {}}

    def add_image(self, histogram, source_size, stored_size):
        """Counts one stored image, given its counted pixels per level of each
        channel (`ConvertedImage.histogram`: 256 counts per channel, one
        channel after another, as Pillow's Image.histogram gives them)."""
        counts = np.fromiter(histogram, dtype=np.int64, count=len(histogram))  # Faster than asarray on a tuple.
        self._add_histograms(counts.reshape(-1, _LEVELS))
        self.images += 1
        _count_size(self.source_sizes, source_size)
        _count_size(self.stored_sizes, stored_size)

    def merge(self, other):
        """Adds `other`'s totals to these; returns self."""
        if other is None:
            return self
        if other.histograms is not None:
            self._add_histograms(other.histograms)
        self.images += other.images
        for mine, theirs in ((self.source_sizes, other.source_sizes), (self.stored_sizes, other.stored_sizes)):
            for axis in ("width", "height"):
                for bucket, n in theirs[axis].items():
                    mine[axis][bucket] = mine[axis].get(bucket, 0) + n
        return self

    def _add_histograms(self, counts):
        if self.histograms is None:
            self.channels, self.histograms = len(counts), np.zeros((len(counts), _LEVELS), dtype=np.int64)
        if len(counts) != self.channels:  # One --color per run: only a bug mixes them.
            raise ValueError(f"images of {len(counts)} and of {self.channels} channels in one split")
        self.histograms += counts

    def to_json(self):
        """Plain JSON data (resume records keep a shard's statistics)."""
        return {
            "images": self.images,
            "channels": self.channels,
            "histograms": None if self.histograms is None else self.histograms.tolist(),
            "source_sizes": self.source_sizes,
            "stored_sizes": self.stored_sizes,
        }

    @classmethod
    def from_json(cls, document):
        return cls(**document) if document else None


def _bucket(pixels):
    return str(1 << (max(int(pixels), 1).bit_length() - 1))


def _count_size(sizes, size):
    width, height = size
    for axis, value in (("width", width), ("height", height)):
        bucket = _bucket(value)
        sizes[axis][bucket] = sizes[axis].get(bucket, 0) + 1


def _sorted_buckets(counts):
    return {bucket: counts[bucket] for bucket in sorted(counts, key=int)}


def summarize(statistics):
    """The dataset_info.json entry of one split's Statistics: per channel the
    pixel count, integer sum and sum of squares (so anyone can check or
    combine them), the mean and standard deviation on both scales, and the
    size histograms."""
    if statistics is None or not statistics.images:
        return None
    channels = []
    for histogram in statistics.histograms.tolist():  # Python ints: no overflow in the sums.
        n = sum(histogram)
        total = sum(level * count for level, count in enumerate(histogram))
        squares = sum(level * level * count for level, count in enumerate(histogram))
        mean = Fraction(total, n)
        variance = Fraction(n * squares - total * total, n * n)  # Exact: never below zero.
        std = math.sqrt(variance)
        channels.append(
            {
                "pixels": n,
                "sum": total,
                "sum_of_squares": squares,
                "mean": float(mean),
                "std": std,
                "mean_0_1": float(mean / 255),
                "std_0_1": std / 255,
            }
        )
    return {
        "images": statistics.images,
        "channels": channels,
        "mean": [c["mean"] for c in channels],
        "std": [c["std"] for c in channels],
        "mean_0_1": [c["mean_0_1"] for c in channels],
        "std_0_1": [c["std_0_1"] for c in channels],
        "source_sizes": {axis: _sorted_buckets(counts) for axis, counts in statistics.source_sizes.items()},
        "stored_sizes": {axis: _sorted_buckets(counts) for axis, counts in statistics.stored_sizes.items()},
    }
