"""Property test of the decode step on mutated image bytes: whatever the
bytes, it yields a record or an error row, and never raises out of the DoFn."""

import io

import numpy as np
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from PIL import Image

from transforms.decode import DecodedImage
from transforms.decode import _DecodeBatch
from transforms.decode import Concurrency
from transforms.errors import ERRORS
from transforms.imaging import ImageSettings


def _seed_images():
    pixels = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    seeds = []
    for fmt, args in (("JPEG", {"quality": 80}), ("JPEG", {"progressive": True}), ("PNG", {}),
                      ("GIF", {}), ("BMP", {}), ("WEBP", {}), ("TIFF", {"compression": "tiff_lzw"})):
        out = io.BytesIO()
        image.save(out, format=fmt, **args)
        seeds.append(out.getvalue())
    return seeds


SEEDS = _seed_images()


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "truncate", "insert", "zero"]))
        if action == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del data[position:]
            if not data:
                break
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        else:
            data[position:position + 16] = bytes(len(data[position:position + 16]))
    return bytes(data)


class _BytesByPath:
    """Our Storage interface, over bytes held in memory."""

    def __init__(self, files):
        self._files = files

    def read(self, path):
        return self._files[path]


def _decode_fn(files):
    fn = _DecodeBatch("/in", ImageSettings(size=32, max_pixels=1_000_000), {}, Concurrency(2, 2))
    fn.setup()
    fn._storage = _BytesByPath(files)
    return fn


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=4))
def test_mutated_bytes_give_a_record_or_an_error_row(blobs):
    files = {f"/in/label/{i}.img": blob for i, blob in enumerate(blobs)}
    fn = _decode_fn(files)
    try:
        outputs = list(fn.process([("label", path) for path in files]))
    finally:
        fn.teardown()
    assert len(outputs) == len(files)
    for output in outputs:
        if isinstance(output, DecodedImage):
            decoded = Image.open(io.BytesIO(output.image.encoded))
            decoded.load()
            assert decoded.size == (output.image.width, output.image.height)
        else:
            assert output.tag == ERRORS and output.value["reason"] and output.value["message"]
