"""Unstable decodes become error rows the same way in every process; flat and
noise-like images are recognised, photos are not."""

import io
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from transforms.imaging import ImageError
from transforms.imaging import ImageSettings
from transforms.imaging import convert_image
from transforms.pixel_checks import FLAT
from transforms.pixel_checks import NOISE
from transforms.pixel_checks import content_kind

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_IMAGE_WIDTH_TAG = 256
# Far wider than the 64 px of JPEG data: libtiff fills 64 px of each row and
# leaves the rest as the heap had it.
_CLAIMED_WIDTH = 31296


def _gradient(size=(64, 48)):
    width, height = size
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    return np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)


def _tiff(compression, pixels):
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="TIFF", compression=compression)
    return out.getvalue()


def _with_width(tiff, width):
    """The little-endian TIFF with its first IFD's ImageWidth tag set to `width`."""
    data = bytearray(tiff)
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for n in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * n
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag == _IMAGE_WIDTH_TAG:
            struct.pack_into("<H" if kind == 3 else "<I", data, entry + 8, width)
            return bytes(data)
    raise AssertionError("no ImageWidth tag")


def _unstable_tiff():
    return _with_width(_tiff("jpeg", _gradient()), _CLAIMED_WIDTH)


def _reason(data):
    try:
        convert_image(data, ImageSettings(image_size=32))
    except ImageError as e:
        return e.reason
    return "written"


def test_a_tiff_wider_than_its_jpeg_data_is_an_unstable_decode_row():
    data = _unstable_tiff()
    assert Image.open(io.BytesIO(data)).size == (_CLAIMED_WIDTH, 48)  # Pillow opens it.
    assert [_reason(data) for _ in range(5)] == ["unstable_decode"] * 5


_CHILD = """
import sys
from tests.test_pixel_checks import _reason, _unstable_tiff
# Heap states differ from the parent's: allocate and free as much as the decode.
junk = [bytearray(n * 9973 % 200_000 + 1) for n in range(int(sys.argv[1]))]
del junk[::2]
print(_reason(_unstable_tiff()))
"""


def test_the_verdict_is_the_same_in_other_processes():
    verdicts = [
        subprocess.run(
            [sys.executable, "-c", _CHILD, str(n)], capture_output=True, text=True, check=True, cwd=_ROOT
        ).stdout.strip()
        for n in (0, 50, 400)
    ]
    assert verdicts == ["unstable_decode"] * 3


@pytest.mark.parametrize("compression", ["jpeg", "tiff_lzw", "tiff_adobe_deflate", "packbits", "raw"])
def test_sound_tiffs_are_written_with_their_pixels(compression):
    pixels = _gradient()
    converted = convert_image(_tiff(compression, pixels), ImageSettings(image_size=48, image_format="png"))
    stored = np.asarray(Image.open(io.BytesIO(converted.encoded)), dtype=np.int64)
    # JPEG compression inside the TIFF is lossy; the others are exact.
    tolerance = 12 if compression == "jpeg" else 0
    assert stored.shape == pixels.shape
    assert np.abs(stored - pixels.astype(np.int64)).max() <= tolerance
    assert converted.content is None


def _as_image(pixels):
    return Image.fromarray(pixels.astype(np.uint8))


def _kind(pixels, image_format="jpeg"):
    """content_kind as the converter calls it: with the image's encoded size."""
    image = _as_image(pixels)
    out = io.BytesIO()
    image.save(out, format=image_format.upper(), **({"quality": 90} if image_format == "jpeg" else {}))
    return content_kind(image, len(out.getvalue()), image_format)


@pytest.mark.parametrize("image_format", ["jpeg", "png"])
def test_flat_colours_with_jpeg_ringing_are_flat(image_format):
    flat = np.full((40, 60, 3), (120, 30, 200))
    flat[5, 5] = (123, 27, 203)  # Within a few levels: still one colour.
    assert _kind(flat, image_format) == FLAT
    assert _kind(np.full((40, 60), 7), image_format) == FLAT


@pytest.mark.parametrize("image_format", ["jpeg", "png"])
def test_random_pixels_are_noise_in_colour_and_grey(image_format):
    rng = np.random.default_rng(7)
    assert _kind(rng.integers(0, 256, (64, 64, 3)), image_format) == NOISE
    assert _kind(rng.normal(128, 40, (64, 64)).clip(0, 255), image_format) == NOISE


def test_a_flat_image_with_a_small_mark_is_not_flat():
    marked = np.full((64, 64, 3), 200)
    marked[30:33, 30:33] = 20
    assert _kind(marked) is None


@pytest.mark.parametrize(
    "name,pixels",
    [
        ("gradient", _gradient((96, 64))),
        ("stripes", np.repeat(np.tile([0, 255], 32)[None, :], 64, axis=0)),  # alike down each column
        ("checks of 2 px", np.kron(np.indices((32, 32)).sum(axis=0) % 2 * 255, np.ones((2, 2)))),
        ("two flat halves", np.concatenate([np.zeros((32, 64)), np.full((32, 64), 255)])),
        ("noise too small to judge", np.random.default_rng(3).integers(0, 256, (4, 4, 3))),
    ],
)
def test_other_images_are_neither(name, pixels):
    assert _kind(pixels) is None, name


def test_photos_are_neither():
    # A photo-like image: smooth shapes plus mild sensor noise.
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:128, 0:160]
    base = 100 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0) + 40 * ((x - 80) ** 2 + (y - 64) ** 2 < 900)
    pixels = np.stack([base, base * 0.8, 255 - base], axis=-1) + rng.normal(0, 4, (128, 160, 3))
    out = io.BytesIO()
    _as_image(pixels.clip(0, 255)).save(out, format="JPEG", quality=85)
    assert convert_image(out.getvalue(), ImageSettings(image_size=64)).content is None
