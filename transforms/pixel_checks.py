"""Checks on decoded pixels that Pillow does not make.

Unstable decodes. Some damaged files make a decoder return memory it never
filled: a JPEG-compressed TIFF whose ImageWidth tag is wider than its JPEG
data, for one, comes out of libtiff with the rest of each row taken from
whatever the heap held. Such a file would give different shards on every
rerun. `load_twice` decodes formats where this has been seen twice, with the
C heap's fresh and freed memory filled with a different byte each time (glibc's
M_PERTURB), so memory the decoder did not write cannot come out the same twice:
a difference makes the image an `unstable_decode` error row, the same on every
run. Without glibc the second decode still runs, and catches what differs.

Odd content. An image that is one flat colour, or uncorrelated noise, is
almost never a useful training example (a placeholder, a failed scan, a file
that decoded to garbage), but it is a valid image, so it is only counted in
the summary's warnings, never rejected.
"""

import contextlib
import ctypes
import functools
import io
import platform
import threading

import numpy as np
from PIL import Image

# Formats whose decodes have been seen to differ between runs (libtiff's
# codecs on damaged files); every other format is decoded once. Decoding twice
# costs a second decode for these files only.
UNSTABLE_FORMATS = ("TIFF",)

# Two fill bytes that differ in every bit, so no pixel from unwritten memory
# can match.
_FILLS = (0x5A, 0xA5)
_M_PERTURB = -6  # glibc's mallopt() parameter; malloc.h.

# Content kinds `content_kind` returns.
FLAT = "flat"
NOISE = "noise"

# A flat image: no channel varies by more than this (JPEG ringing on a flat
# colour stays within a few levels).
_FLAT_RANGE = 4
# Noise: neighbouring pixels differ as much as random pairs do. For independent
# pixels the mean neighbour difference is about 1.33 (uniform) to 1.41
# (Gaussian) times the mean deviation from the mean; for 410 photos at 256 px
# it was 0.15 (median), 0.59 (99th percentile), 0.96 at most, since neighbours
# are alike. Both directions must exceed the threshold, so stripes (alike along
# one direction) are not noise.
_NOISE_RATIO = 1.15
# Below this side a few pixels decide the statistics: no noise verdict.
_NOISE_MIN_SIDE = 8
# Encoded bits per sample (per pixel and channel, headers aside) at or below which an image
# is checked for flatness, and at or above which for noise. Measured with the
# default settings (256 px, JPEG q90): 410 photos (hymenoptera, camera shots)
# gave 0.26-1.76 bits as JPEG (median 0.81, 99th percentile 1.58) and 1.2-7.4
# as PNG; a flat colour 0.06 and 0.03; uniform noise 2.44 and 8.0, Gaussian
# noise of 30 levels 1.66 and 7.5. So about 1 photo in 40 pays for the noise
# statistics. Noise of low amplitude, or at a low --jpeg_quality, can encode
# below the gate and goes unremarked: this is a warning, not a filter.
_GATES = {"jpeg": (0.3, 1.4), "png": (1.0, 6.5)}


class UnstableDecodeError(Exception):
    """The same bytes decoded to different pixels."""


def load_twice(image, reopen, load):
    """Loads `image` with `load`, then a fresh copy from `reopen()`, and raises
    UnstableDecodeError unless both hold the same pixels."""
    with _heap_filled_with(_FILLS[0]):
        load(image)
    second = reopen()
    with _heap_filled_with(_FILLS[1]):
        load(second)
    if second.size != image.size or second.mode != image.mode or second.tobytes() != image.tobytes():
        raise UnstableDecodeError(
            "the file decodes to different pixels each time (damaged data: the decoder returned memory it never filled)"
        )


def content_kind(image, encoded_size, image_format):
    """FLAT, NOISE or None for an 8-bit RGB or L image that encoded (as
    `image_format`, "jpeg" or "png") to `encoded_size` bytes.

    The noise statistics cost about 1 ms for a 256 px photo, a fifth to a
    quarter of converting it, so they run only
    where the encoded size already points that way: a flat image encodes to
    almost nothing, noise to more than nearly any photo (_GATES)."""
    payload = max(0, encoded_size - _container_bytes(image_format, image.mode))
    bits = 8 * payload / (image.width * image.height * len(image.getbands()))
    flat_below, noise_above = _GATES[image_format]
    if bits <= flat_below and _is_flat(image):
        return FLAT
    if bits >= noise_above and _is_noise(image):
        return NOISE
    return None


@functools.lru_cache(maxsize=None)
def _container_bytes(image_format, mode):
    """What an encoded file holds besides the pixels (headers, tables): the
    size of a 1x1 image, 632 bytes for an RGB JPEG, which would otherwise
    weigh more than the pixels of a small image."""
    out = io.BytesIO()
    Image.new(mode, (1, 1)).save(out, format=image_format.upper())
    return len(out.getvalue())


def _is_flat(image):
    extrema = image.getextrema()
    if not isinstance(extrema[0], tuple):
        extrema = (extrema,)
    return max(high - low for low, high in extrema) <= _FLAT_RANGE


_LEVELS = np.arange(256)


def _is_noise(image):
    if min(image.size) < _NOISE_MIN_SIDE:
        return False
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    height, width, channels = pixels.shape
    # Each channel's mean absolute deviation from its mean, from Pillow's
    # histogram; neighbour differences in integers, channels first and each
    # contiguous: 2.4 times as fast as the same in float32 over the pixels,
    # to a few parts in ten million.
    histogram = np.asarray(image.histogram(), dtype=np.int64).reshape(channels, 256)
    means = (histogram * _LEVELS).sum(axis=1) / (height * width)
    deviation = float((histogram * np.abs(_LEVELS - means[:, None])).sum()) / pixels.size
    planes = np.ascontiguousarray(pixels.transpose(2, 0, 1)).astype(np.int16)
    across = int(np.abs(np.diff(planes, axis=2)).sum(dtype=np.int64)) / (channels * height * (width - 1))
    down = int(np.abs(np.diff(planes, axis=1)).sum(dtype=np.int64)) / (channels * (height - 1) * width)
    return min(across, down) > _NOISE_RATIO * deviation


# One thread at a time changes the fill byte, so a decode sees only its own.
_PERTURB_LOCK = threading.Lock()


def _glibc_mallopt():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


_MALLOPT = _glibc_mallopt()


@contextlib.contextmanager
def _heap_filled_with(byte):
    """While inside, glibc fills memory it hands out (and takes back) with a
    byte derived from `byte`; other threads' allocations pay a memset meanwhile."""
    if _MALLOPT is None:
        yield
        return
    with _PERTURB_LOCK:
        _MALLOPT(_M_PERTURB, byte)
        try:
            yield
        finally:
            _MALLOPT(_M_PERTURB, 0)
