"""The benchmarks' limit loop does exactly the work of our default conversion:
its bytes are ours, image for image, so the ratios compare like with like."""

import os
import sys

import pytest

from tests.conftest import HYMENOPTERA
from tests.conftest import NASTY
from tests.conftest import needs_hymenoptera
from tests.conftest import needs_nasty
from transforms import imaging

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import pillow_loop  # noqa: E402

_ROTATED = os.path.join(NASTY, "exif-samples", "jpg", "orientation")


def _photos():
    paths = sorted(os.path.join(HYMENOPTERA, "bees", name) for name in os.listdir(os.path.join(HYMENOPTERA, "bees")))
    rotated = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(_ROTATED)
        for name in names
        if name.lower().endswith(".jpg")
    )
    return paths[:12] + rotated


@needs_hymenoptera
@needs_nasty
@pytest.mark.parametrize("name", ["bicubic", "bilinear"])
def test_the_limit_loop_makes_our_bytes(name):
    settings = imaging.ImageSettings(resize_filter=name)
    photos = _photos()
    assert len(photos) >= 12 + 8  # A photo of each EXIF orientation among them.
    for path in photos:
        with open(path, "rb") as f:
            data = f.read()
        ours = imaging.convert_image(data, settings).encoded
        assert pillow_loop.convert(data, 256, pillow_loop.FILTERS[name], True) == ours, path
