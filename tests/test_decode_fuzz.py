"""Property test of the decode step on mutated image bytes: whatever the
bytes, it yields a record or an error row, and never raises out of the DoFn.
An error row must be earned: a documented decode reason, and `decode_error`
only for bytes Pillow itself cannot load, so a step that rejects everything
fails here."""

import io
import warnings

import numpy as np
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from PIL import Image

from transforms.beam_writer.decode import _DecodeBatch
from transforms.converting import Concurrency
from transforms.converting import DecodedImage
from transforms.errors import ERRORS
from transforms.imaging import ImageSettings


def _seed_images():
    pixels = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    seeds = []
    for fmt, args in (
        ("JPEG", {"quality": 80}),
        ("JPEG", {"progressive": True}),
        ("PNG", {}),
        ("GIF", {}),
        ("BMP", {}),
        ("WEBP", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
    ):
        out = io.BytesIO()
        image.save(out, format=fmt, **args)
        seeds.append(out.getvalue())
    return seeds


SEEDS = _seed_images()

# The error reasons of the decode stage (docs/formats.md, "Errors file").
DECODE_REASONS = {"decode_error", "too_large", "too_small", "too_slow", "empty_file", "unstable_decode"}
# What the README says files are parsed as: JPEG (including MPO), PNG, GIF,
# BMP, WebP or TIFF, whatever the extension.
PARSED_AS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF")


def _pillow_loads(data):
    """True if Pillow alone, without our limits or conversions, opens and
    loads the bytes as one of the formats we parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=PARSED_AS) as image:
                image.load()
    except Exception:
        return False
    return True


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
            data[position : position + 16] = bytes(len(data[position : position + 16]))
    return bytes(data)


class _BytesByPath:
    """Our Storage interface, over bytes held in memory."""

    def __init__(self, files):
        self._files = files

    def read(self, path):
        return self._files[path]


def _decode_fn(files):
    fn = _DecodeBatch("/in", ImageSettings(image_size=32, max_pixels=1_000_000), {}, Concurrency(2, 2))
    fn.setup()
    fn._converter.storage = _BytesByPath(files)
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
            row = output.value
            assert output.tag == ERRORS and row["stage"] == "decode" and row["message"]
            assert row["reason"] in DECODE_REASONS, row
            if row["reason"] == "decode_error":
                assert not _pillow_loads(files[row["path"]]), f"Pillow loads what we rejected: {row}"


def test_seeds_and_seeds_with_trailing_bytes_become_records():
    # The unmutated seeds are valid images, and bytes after an image's end
    # (left by careless tools, or a download with junk appended) do not change
    # what is decoded: every one is a record, the same record as its seed's.
    tail = b"trailing garbage \x00\xff" * 8
    files = {f"/in/label/{i}.img": seed for i, seed in enumerate(SEEDS)}
    files.update({f"/in/label/{i}-tail.img": seed + tail for i, seed in enumerate(SEEDS)})
    fn = _decode_fn(files)
    try:
        outputs = list(fn.process([("label", path) for path in files]))
    finally:
        fn.teardown()
    records = {}
    for output in outputs:
        assert isinstance(output, DecodedImage), output.value
        records[output.relative_path] = output.image
    assert sorted(records) == sorted(path[len("/in/") :] for path in files)
    for i in range(len(SEEDS)):
        # 56x40 seeds, shorter side to 32: 44.8 rounds to 45.
        assert (records[f"label/{i}.img"].width, records[f"label/{i}.img"].height) == (45, 32)
        assert records[f"label/{i}-tail.img"].encoded == records[f"label/{i}.img"].encoded
