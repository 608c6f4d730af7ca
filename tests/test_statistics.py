"""transforms/statistics.py: exact per-channel statistics and size histograms
from per-image histograms, checked against numpy over the pixels (that each
image's histogram is of the pixels --statistics names: tests/test_imaging.py)."""

import json

import numpy as np
import pytest

from transforms.statistics import Statistics
from transforms.statistics import summarize


def _histogram(pixels):
    """256 counts per channel, channel after channel, counted by numpy."""
    flat = pixels.reshape(-1, 1 if pixels.ndim == 2 else pixels.shape[2])
    return tuple(int(n) for c in range(flat.shape[1]) for n in np.bincount(flat[:, c], minlength=256))


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (5 + i, 7 + 2 * i, 3), dtype=np.uint8) for i in range(n)]


def _counted(images):
    statistics = Statistics()
    for pixels in images:
        height, width = pixels.shape[:2]
        statistics.add_image(_histogram(pixels), (width * 3, height * 3), (width, height))
    return statistics


def test_mean_and_std_match_numpy_over_the_pixels():
    images = _images(6)
    summary = summarize(_counted(images))
    every = np.concatenate([pixels.reshape(-1, 3) for pixels in images]).astype(np.float64)
    assert summary["images"] == 6
    np.testing.assert_allclose(summary["mean"], every.mean(axis=0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(summary["std"], every.std(axis=0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(summary["mean_0_1"], (every / 255).mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(summary["std_0_1"], (every / 255).std(axis=0), rtol=0, atol=1e-12)
    assert [c["pixels"] for c in summary["channels"]] == [len(every)] * 3
    assert [c["sum"] for c in summary["channels"]] == every.sum(axis=0).astype(int).tolist()
    assert [c["sum_of_squares"] for c in summary["channels"]] == (every**2).sum(axis=0).astype(int).tolist()


def test_known_values_by_hand():
    # Two pixels per channel, 0 and 255: mean 127.5, std 127.5; a flat channel has std 0.
    pixels = np.array([[[0, 10, 255], [255, 10, 255]]], dtype=np.uint8)
    summary = summarize(_counted([pixels]))
    assert summary["mean"] == [127.5, 10.0, 255.0]
    assert summary["std"] == [127.5, 0.0, 0.0]
    assert summary["mean_0_1"] == [0.5, 10 / 255, 1.0]


def test_grayscale_has_one_channel():
    pixels = np.array([[0, 2], [4, 6]], dtype=np.uint8)
    summary = summarize(_counted([pixels]))
    assert summary["mean"] == [3.0] and summary["std"] == [pytest.approx(np.sqrt(5.0), abs=1e-12)]


def test_combining_in_any_order_gives_identical_numbers():
    images = _images(8, seed=5)
    one = _counted(images)
    parts = [_counted(images[i : i + 3]) for i in range(0, 8, 3)]
    forward, backward = Statistics(), Statistics()
    for part in parts:
        forward.merge(Statistics.from_json(json.loads(json.dumps(part.to_json()))))
    for part in reversed(parts):
        backward.merge(part)
    assert summarize(forward) == summarize(backward) == summarize(one)


def test_size_histograms_count_power_of_two_buckets():
    statistics = Statistics()
    for source in ((1, 1), (255, 256), (256, 511), (512, 3000)):
        statistics.add_image(_histogram(np.zeros((3, 4, 3), dtype=np.uint8)), source, (4, 3))
    summary = summarize(statistics)
    assert summary["source_sizes"] == {
        "width": {"1": 1, "128": 1, "256": 1, "512": 1},
        "height": {"1": 1, "256": 2, "2048": 1},
    }
    assert summary["stored_sizes"] == {"width": {"4": 4}, "height": {"2": 4}}


def test_nothing_counted_has_no_summary():
    assert summarize(Statistics()) is None
    assert summarize(None) is None
