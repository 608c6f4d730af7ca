"""Unit tests of the image logic: orientation, modes, resizing, limits."""

import io
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image
from PIL import ImageOps

from tests.conftest import NASTY
from tests.records import jpeg_bytes
from tests.records import photo_pixels
from transforms import imaging
from transforms.imaging import ImageError
from transforms.imaging import ImageSettings
from transforms.imaging import convert_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _encode(image, fmt, **kwargs):
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _decode(converted):
    return Image.open(io.BytesIO(converted.encoded))


def _pixels(converted):
    return np.asarray(_decode(converted).convert("RGB"), dtype=np.int64)


@pytest.mark.parametrize(
    "mode,size,expected",
    [
        ("shorter_side", (400, 200), (200, 100)),
        ("shorter_side", (50, 80), (50, 80)),  # never upscaled
        ("fit", (400, 200), (100, 50)),
        ("fit", (60, 90), (60, 90)),  # never upscaled
        ("exact", (400, 200), (100, 100)),
        ("exact", (30, 20), (100, 100)),  # exact may upscale
        ("center_crop", (400, 200), (100, 100)),
        ("center_crop", (80, 60), (60, 60)),  # smaller: central square, no upscale
    ],
)
def test_resize_modes(mode, size, expected):
    data = _encode(Image.new("RGB", size, (10, 20, 30)), "PNG")
    out = convert_image(data, ImageSettings(image_size=100, resize_mode=mode, image_format="png"))
    assert (out.width, out.height) == expected
    assert _decode(out).size == expected


# Pillow's filters named directly, not through imaging.RESIZE_FILTERS: a wrong
# entry there (area as BILINEAR, say) must fail here.
_PILLOW_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}


def _detailed_image(size=(800, 600)):
    """Photo-like pixels with a fine checkerboard over them: edges and texture
    at every scale, where the filters disagree."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    checks = ((x // 3 + y // 3) % 2 * 60)[..., None]
    return Image.fromarray((photo_pixels(size).astype(np.int64) + checks).clip(0, 255).astype(np.uint8))


def _pillow_resize(image, size, resample):
    return np.asarray(image.resize(size, resample, reducing_gap=3.0), dtype=np.int64)


@pytest.mark.parametrize("name", sorted(_PILLOW_FILTERS))
def test_each_resize_filter_is_pillows_own_with_its_reducing_gap(name):
    image = _detailed_image()  # 800x600 to 85x64: over 3x, so reducing_gap applies.
    expected = _pillow_resize(image, (85, 64), _PILLOW_FILTERS[name])
    # Guards the test itself: without reducing_gap the pixels would differ.
    assert not np.array_equal(expected, np.asarray(image.resize((85, 64), _PILLOW_FILTERS[name]), dtype=np.int64))
    settings = ImageSettings(image_size=64, resize_filter=name, image_format="png")
    assert np.array_equal(_pixels(convert_image(_encode(image, "PNG"), settings)), expected)


@pytest.mark.parametrize("name", sorted(_PILLOW_FILTERS))
def test_center_crop_resizes_with_the_filter_too(name):
    image = _detailed_image()
    expected = _pillow_resize(image.crop((100, 0, 700, 600)), (64, 64), _PILLOW_FILTERS[name])
    settings = ImageSettings(image_size=64, resize_mode="center_crop", resize_filter=name, image_format="png")
    assert np.array_equal(_pixels(convert_image(_encode(image, "PNG"), settings)), expected)


def test_resize_filters_give_different_images():
    data = _encode(_detailed_image(), "PNG")
    encoded = {
        name: convert_image(data, ImageSettings(image_size=64, resize_filter=name)).encoded for name in _PILLOW_FILTERS
    }
    assert len(set(encoded.values())) == len(_PILLOW_FILTERS), "two filters gave the same bytes"


def test_default_resize_filter_is_bicubic():
    assert ImageSettings().resize_filter == "bicubic"
    image = _detailed_image()
    out = convert_image(_encode(image, "PNG"), ImageSettings(image_size=64, image_format="png"))
    assert np.array_equal(_pixels(out), _pillow_resize(image, (85, 64), Image.Resampling.BICUBIC))


def test_center_crop_keeps_the_center():
    image = Image.new("RGB", (300, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))  # blue middle third
    out = convert_image(
        _encode(image, "PNG"), ImageSettings(image_size=50, resize_mode="center_crop", image_format="png")
    )
    pixels = _pixels(out)
    assert pixels.shape == (50, 50, 3)
    assert (pixels[:, :, 2] > 250).all() and (pixels[:, :, 0] < 5).all()


# Where the stored top-left corner is seen once upright, per EXIF orientation
# (worked out from the EXIF 2.3 tag 0x0112 table: which side the stored row 0
# and column 0 are seen on). 5..8 also swap width and height.
_UPRIGHT_CORNER_OF_STORED_TOP_LEFT = {
    1: "top_left",
    2: "top_right",
    3: "bottom_right",
    4: "bottom_left",
    5: "top_left",
    6: "top_right",
    7: "bottom_right",
    8: "bottom_left",
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_makes_the_image_upright(orientation):
    # Stored landscape, blue with a red top-left quarter: the corner the red
    # lands in and the aspect together tell the 8 orientations apart.
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(stored, "JPEG", exif=exif, quality=95)
    out = convert_image(data, ImageSettings(image_size=1000, image_format="png"))
    expected = (80, 40) if orientation <= 4 else (40, 80)
    assert (out.width, out.height) == expected
    pixels = _pixels(out)
    height, width = pixels.shape[:2]
    corners = {
        "top_left": pixels[5, 5],
        "top_right": pixels[5, width - 6],
        "bottom_left": pixels[height - 6, 5],
        "bottom_right": pixels[height - 6, width - 6],
    }
    red = sorted(name for name, (r, g, b) in corners.items() if r > 200 and b < 55)
    assert red == [_UPRIGHT_CORNER_OF_STORED_TOP_LEFT[orientation]]
    # Pillow's own reading of the tag agrees, pixel for pixel.
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    np.testing.assert_allclose(pixels, np.asarray(reference), atol=3)


def test_corrupt_exif_counts_as_upright():
    data = jpeg_bytes((40, 20))
    # Splice an APP1 Exif segment with a truncated TIFF header after SOI.
    bad_exif = b"\xff\xe1\x00\x0cExif\x00\x00II*\x00"
    out = convert_image(data[:2] + bad_exif + data[2:], ImageSettings(image_size=100))
    assert (out.width, out.height) == (40, 20)


def test_cmyk_jpeg_becomes_rgb():
    data = _encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", quality=95)  # red
    out = convert_image(data, ImageSettings(image_size=100, image_format="png"))
    assert out.channels == 3
    r, g, b = _pixels(out).reshape(-1, 3).mean(axis=0)
    assert r > 240 and g < 15 and b < 15


def test_palette_transparency_is_composited_on_white():
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 10, 20))  # left half red, right half index 0
    data = _encode(image, "PNG", transparency=0)  # index 0 is transparent
    out = convert_image(data, ImageSettings(image_size=100, image_format="png"))
    pixels = _pixels(out)
    assert tuple(pixels[5, 2]) == (255, 0, 0)
    assert tuple(pixels[5, 15]) == imaging.BACKGROUND


def test_grayscale_alpha_is_composited_on_white():
    image = Image.new("LA", (10, 10), (0, 0))  # black, fully transparent
    out = convert_image(_encode(image, "PNG"), ImageSettings(image_size=100, image_format="png"))
    assert (_pixels(out) == 255).all()


def test_sixteen_bit_is_scaled_not_clipped():
    array = np.full((8, 8), 32768, dtype=np.uint16)  # half of the 16-bit range
    data = _encode(Image.fromarray(array), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = convert_image(data, ImageSettings(image_size=100, image_format="png", color="grayscale"))
    value = np.asarray(_decode(out))
    assert out.channels == 1
    assert (abs(value.astype(int) - 127) <= 1).all()


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 255, 0))]
    out_bytes = io.BytesIO()
    frames[0].save(out_bytes, format="GIF", save_all=True, append_images=frames[1:])
    out = convert_image(out_bytes.getvalue(), ImageSettings(image_size=100, image_format="png"))
    r, g, _ = _pixels(out).reshape(-1, 3).mean(axis=0)
    assert r > 240 and g < 15


def test_grayscale_output_has_one_channel():
    out = convert_image(jpeg_bytes((30, 30), (200, 200, 200)), ImageSettings(image_size=100, color="grayscale"))
    assert out.channels == 1 and _decode(out).mode == "L"


def test_max_pixels_rejects_before_decoding():
    data = jpeg_bytes((100, 100))
    with pytest.raises(ImageError) as error:
        convert_image(data, ImageSettings(max_pixels=9_999))
    assert error.value.reason == "too_large"
    assert "--max_pixels" in str(error.value)


def test_large_jpeg_is_draft_decoded(monkeypatch):
    seen = {}
    original = Image.Image.resize

    def spy(self, size, *args, **kwargs):
        seen.setdefault("source", self.size)  # The first: the statistics sample resizes after it.
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    out = convert_image(jpeg_bytes((2000, 1600)), ImageSettings(image_size=100))
    assert (out.width, out.height) == (125, 100)
    # DCT scaling by 8 leaves 250x200, still at least the target size.
    assert seen["source"] == (250, 200)


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "decode_error"),
        (b"not an image at all", "decode_error"),
        (jpeg_bytes((64, 64))[:300], "decode_error"),  # truncated
    ],
)
def test_undecodable_bytes_raise_image_error(data, reason):
    with pytest.raises(ImageError) as error:
        convert_image(data, ImageSettings())
    assert error.value.reason == reason


def test_keep_original_passes_bytes_through():
    data = jpeg_bytes((80, 60))
    out = convert_image(data, ImageSettings(image_size=100, keep_original=True))
    assert out.encoded == data and (out.width, out.height, out.format) == (80, 60, "JPEG")


def test_keep_original_still_reencodes_when_resizing_is_needed():
    data = jpeg_bytes((400, 300))
    out = convert_image(data, ImageSettings(image_size=100, keep_original=True))
    assert out.encoded != data and (out.width, out.height) == (133, 100)


def test_keep_original_rejects_a_truncated_file():
    with pytest.raises(ImageError):
        convert_image(jpeg_bytes((80, 60))[:-200], ImageSettings(image_size=100, keep_original=True))


def test_encoding_is_deterministic():
    data = jpeg_bytes((300, 200), (12, 34, 56))
    assert convert_image(data, ImageSettings()).encoded == convert_image(data, ImageSettings()).encoded


@pytest.mark.parametrize(
    "field,value",
    [
        ("image_size", 0),
        ("resize_mode", "stretch"),
        ("resize_filter", "nearest"),
        ("resize_filter", "BICUBIC"),
        ("image_format", "gif"),
        ("color", "cmyk"),
        ("jpeg_quality", 101),
        ("max_pixels", 0),
    ],
)
def test_settings_reject_bad_values(field, value):
    with pytest.raises(ValueError):
        ImageSettings(**{field: value})


def test_time_bound_stops_a_slow_image_between_decoder_steps(monkeypatch):
    # A clock that advances one second per look: the 4 MB noise PNG takes
    # about 200 reads (most of them 64 KiB decoder steps), so it runs out of
    # its 100 s mid-decode, while a small JPEG (about 40) converts in time.
    clock = iter(range(10**6))
    monkeypatch.setattr(imaging.time, "monotonic", lambda: float(next(clock)))
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    settings = ImageSettings(image_size=100, max_seconds_per_image=100)
    with pytest.raises(ImageError) as error:
        convert_image(_encode(Image.fromarray(noise), "PNG"), settings)
    assert error.value.reason == "too_slow"
    assert "--max_seconds_per_image=100" in str(error.value)
    assert convert_image(jpeg_bytes((64, 48)), settings).width == 64  # Never upscaled.


def test_max_pixels_above_pillows_own_limit_is_ours_to_set():
    # 180 MP: over twice Pillow's default bomb limit (89.5 MP), which refused it
    # whatever --max_pixels said. A bilevel PNG keeps the file small.
    out = io.BytesIO()
    Image.new("1", (15000, 12000), 1).save(out, format="PNG")
    converted = convert_image(out.getvalue(), ImageSettings(image_size=64, max_pixels=200_000_000))
    assert (converted.width, converted.height) == (80, 64)
    with pytest.raises(ImageError) as refused:
        convert_image(out.getvalue(), ImageSettings(image_size=64, max_pixels=100_000_000))
    assert refused.value.reason == "too_large"
    assert str(refused.value) == "15000x12000 = 180000000 pixels is over --max_pixels=100000000"


def _with_frame_marker(data, marker):
    """A Pillow-written baseline JPEG whose start-of-frame marker is replaced."""
    position = data.index(b"\xff\xc0")
    return data[:position] + bytes([0xFF, marker]) + data[position + 2 :]


def test_lossless_jpeg_frames_are_told_from_the_others():
    baseline = jpeg_bytes(size=(50, 40))
    out = io.BytesIO()
    Image.new("RGB", (50, 40), (9, 9, 9)).save(out, "JPEG", progressive=True)
    assert not imaging.is_lossless_jpeg(baseline)
    assert not imaging.is_lossless_jpeg(out.getvalue())  # SOF2
    for marker in (0xC3, 0xC7, 0xCB, 0xCF):
        assert imaging.is_lossless_jpeg(_with_frame_marker(baseline, marker)), hex(marker)
    for marker in (0xC1, 0xC9):  # Extended sequential DCT frames are not lossless.
        assert not imaging.is_lossless_jpeg(_with_frame_marker(baseline, marker)), hex(marker)
    assert not imaging.is_lossless_jpeg(b"\xff\xd8\xff")  # Cut short: no frame seen.


LOSSLESS_JPEG = os.path.join(NASTY, "sharp", "testimgl.jpg")


@pytest.mark.skipif(not os.path.exists(LOSSLESS_JPEG), reason="../shared/data/nasty is not present")
def test_a_lossless_jpeg_is_decoded_in_full_not_in_draft():
    # Draft mode on this file broke the decode or aborted the whole process
    # (glibc: double free): it runs in a child, which must exit cleanly.
    code = (
        "import sys; from transforms import imaging; "
        f"r = imaging.convert_image(open({LOSSLESS_JPEG!r}, 'rb').read(), imaging.ImageSettings(image_size=64)); "
        "sys.stdout.buffer.write(r.encoded)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(LOSSLESS_JPEG) as source:
        expected = source.convert("RGB").resize((98, 64), Image.Resampling.BICUBIC, reducing_gap=3.0)
    out = io.BytesIO()
    expected.save(out, "JPEG", quality=90)
    assert result.stdout == out.getvalue()  # The full decode's pixels, resized and encoded.


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"image_format": "png"},
        {"color": "grayscale"},
        {"keep_original": True, "image_size": 4096},
        {"image_format": "png", "keep_original": True, "image_size": 4096},
    ],
    ids=["jpeg", "png", "grayscale", "kept-jpeg", "kept-png"],
)
def test_histogram_with_statistics_stored_counts_every_pixel_a_reader_decodes(flags, tmp_path):
    from pipeline.read.stream import decode as _decode

    source = _photo_file(flags)
    settings = imaging.ImageSettings(**{"image_size": 40, **flags, "statistics": "stored"})
    converted = imaging.convert_image(source, settings)
    if flags.get("keep_original"):
        assert converted.encoded == source
    assert converted.histogram == _histogram(_decode(converted.encoded, settings.mode))  # What iter_examples yields.
    assert (converted.source_width, converted.source_height) == (90, 70)


@pytest.mark.parametrize("color", ["rgb", "grayscale"])
# From the 90x70 photo: 51x40 (3 columns past the last whole step), 6x5, 4x3 and 3x2.
@pytest.mark.parametrize("size", [40, 5, 3, 2])
def test_histogram_by_default_counts_every_4th_row_and_column_given_to_the_jpeg_encoder(color, size):
    """Those a lossless PNG of the same conversion holds, decoded, at rows and
    columns 2, 6, 10, ... (the middle one of a side under 4 px): not the
    stored JPEG's (which differ, and differ by decoder)."""
    from pipeline.read.stream import decode as _decode

    source = _photo_file({"color": color})
    jpeg = imaging.convert_image(source, imaging.ImageSettings(image_size=size, color=color))
    png = imaging.convert_image(source, imaging.ImageSettings(image_size=size, color=color, image_format="png"))
    mode = "RGB" if color == "rgb" else "L"
    given = _decode(png.encoded, mode)
    height, width = given.shape[:2]
    assert width > height == size

    def picked(side):
        return list(range(2, side - side % 4, 4)) if side >= 4 else [side // 2]

    sample = given[np.ix_(picked(height), picked(width))]
    assert jpeg.histogram == _histogram(sample) != _histogram(_decode(jpeg.encoded, mode))
    kept = imaging.convert_image(
        png.encoded, imaging.ImageSettings(image_size=size, color=color, image_format="png", keep_original=True)
    )
    assert kept.encoded == png.encoded and kept.histogram == jpeg.histogram


def _photo_file(flags):
    from tests.records import photo_pixels

    source = io.BytesIO()
    fmt = "PNG" if flags.get("image_format") == "png" else "JPEG"
    pixels = photo_pixels((90, 70), seed=4)
    Image.fromarray(pixels if flags.get("color") != "grayscale" else pixels[..., 0]).save(source, format=fmt)
    return source.getvalue()


def _histogram(pixels):
    counts = [np.bincount(pixels[..., c].ravel(), minlength=256) for c in range(pixels.shape[2])]
    return tuple(int(n) for channel in counts for n in channel)


def _raw_png(pixels, bit_depth, colour_type, trns=None):
    """A PNG written here byte by byte (Pillow writes no 16-bit RGB or 4-bit
    gray): `pixels` holds one row per list, samples as integers."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width = len(pixels), len(pixels[0]) // (3 if colour_type == 2 else 1)
    rows = b""
    for row in pixels:
        if bit_depth == 16:
            packed = b"".join(struct.pack(">H", sample) for sample in row)
        elif bit_depth == 8:
            packed = bytes(row)
        else:  # Samples packed several to a byte, high bits first.
            per_byte = 8 // bit_depth
            padded = list(row) + [0] * (-len(row) % per_byte)
            packed = bytes(
                sum(sample << (8 - bit_depth * (k + 1)) for k, sample in enumerate(padded[i : i + per_byte]))
                for i in range(0, len(padded), per_byte)
            )
        rows += b"\x00" + packed
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    extra = chunk(b"tRNS", trns) if trns is not None else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# A 4x2 picture whose left half is transparent (by a tRNS sample value).
_OPAQUE_GRAY, _CLEAR_GRAY = 40000, 1234


@pytest.mark.parametrize(
    "name,data,color",
    [
        (
            "16-bit gray, tRNS",
            _raw_png([[_CLEAR_GRAY] * 2 + [_OPAQUE_GRAY] * 2] * 2, 16, 0, struct.pack(">H", _CLEAR_GRAY)),
            "grayscale",
        ),
        (
            "16-bit gray, tRNS, to RGB",
            _raw_png([[_CLEAR_GRAY] * 2 + [_OPAQUE_GRAY] * 2] * 2, 16, 0, struct.pack(">H", _CLEAR_GRAY)),
            "rgb",
        ),
        (
            "16-bit RGB, tRNS",
            _raw_png([[1, 2, 3] * 2 + [_OPAQUE_GRAY] * 6] * 2, 16, 2, struct.pack(">HHH", 1, 2, 3)),
            "rgb",
        ),
        ("8-bit gray, tRNS", _raw_png([[7] * 2 + [156] * 2] * 2, 8, 0, struct.pack(">H", 7)), "grayscale"),
        ("8-bit RGB, tRNS", _raw_png([[1, 2, 3] * 2 + [156] * 6] * 2, 8, 2, struct.pack(">HHH", 1, 2, 3)), "rgb"),
        ("4-bit gray, tRNS", _raw_png([[3] * 2 + [9] * 2] * 2, 4, 0, struct.pack(">H", 3)), "grayscale"),
    ],
)
def test_transparency_is_composited_on_white_in_every_mode(name, data, color):
    out = convert_image(data, ImageSettings(image_size=100, image_format="png", color=color))
    pixels = np.asarray(_decode(out).convert("L"), dtype=np.int64)
    assert (pixels[:, :2] == 255).all(), f"{name}: transparent pixels are not the white background"
    # The opaque half keeps its own value (16-bit 40000 is 155.6 in 8 bits; 4-bit 9 is 153).
    assert (abs(pixels[:, 2:] - 155) <= 2).all(), f"{name}: opaque pixels changed"


def _png_header(data):
    """(bit depth, colour type) from a PNG's IHDR."""
    return data[24], data[25]


@pytest.mark.parametrize(
    "name,data,color",
    [
        ("16-bit RGB", _raw_png([[100, 2000, 65000] * 4] * 3, 16, 2), "rgb"),
        ("4-bit gray", _raw_png([[1, 5, 9, 15]] * 3, 4, 0), "grayscale"),
        ("16-bit gray", _raw_png([[100, 2000, 40000, 65000]] * 3, 16, 0), "grayscale"),
    ],
)
def test_keep_original_keeps_only_files_in_the_promised_form(name, data, color):
    """--keep_original promises 8-bit RGB or L: a file that Pillow opens in
    that mode but stores other samples (16-bit, 4-bit) is re-encoded."""
    out = convert_image(data, ImageSettings(image_size=100, image_format="png", color=color, keep_original=True))
    assert out.encoded != data, f"{name} kept as is"
    assert _png_header(out.encoded) == (8, 2 if color == "rgb" else 0), name
    # The pixels, scaled to 8 bits, are the source's.
    source = np.asarray(Image.open(io.BytesIO(data)).convert("RGB" if color == "rgb" else "L"), dtype=np.int64)
    stored = np.asarray(_decode(out), dtype=np.int64)
    if name == "16-bit gray":  # Pillow's own I;16 -> L clips; ours scales.
        source = np.array([[0, 7, 155, 252]] * 3)
    assert (abs(stored - source) <= 1).all(), name


@pytest.mark.parametrize("color,colour_type", [("rgb", 2), ("grayscale", 0)])
def test_keep_original_keeps_an_eight_bit_png_byte_for_byte(color, colour_type):
    data = _raw_png([[10, 20, 30, 40, 50, 60]] * 2, 8, colour_type)
    out = convert_image(data, ImageSettings(image_size=100, image_format="png", color=color, keep_original=True))
    assert out.encoded == data


def test_keep_original_reencodes_a_lossless_jpeg():
    """TensorFlow cannot decode a lossless (SOF3) JPEG: it is no JPEG a
    dataset may hand on as is."""
    path = os.path.join(NASTY, "sharp", "testimgl.jpg")
    with open(path, "rb") as f:
        data = f.read()
    assert imaging.is_lossless_jpeg(data)
    out = convert_image(data, ImageSettings(image_size=10000, keep_original=True))
    assert out.encoded != data and not imaging.is_lossless_jpeg(out.encoded)


def test_a_lab_image_gives_the_same_png_on_every_run():
    """Pillow converts LAB to RGB through ImageCms, whose sRGB profile holds
    its creation time: a PNG that carried it differed from second to second."""
    path = os.path.join(NASTY, "pillow", "lab.tif")
    with open(path, "rb") as f:
        data = f.read()
    first = convert_image(data, ImageSettings(image_size=100, image_format="png")).encoded
    time.sleep(1.1)
    assert convert_image(data, ImageSettings(image_size=100, image_format="png")).encoded == first
    assert b"iCCP" not in first


def test_max_aspect_ratio_rejects_from_the_header():
    data = _encode(Image.new("RGB", (400, 20), (9, 9, 9)), "PNG")
    assert convert_image(data, ImageSettings(image_size=16, max_aspect_ratio=20)).width == 320
    with pytest.raises(ImageError) as error:
        convert_image(data, ImageSettings(image_size=16, max_aspect_ratio=19.9))
    assert error.value.reason == "extreme_aspect_ratio"
    assert str(error.value) == "400x20 is 20:1, over --max_aspect_ratio=19.9"
    # Upright: a tall strip is as elongated as a wide one.
    tall = _encode(Image.new("RGB", (20, 400), (9, 9, 9)), "PNG")
    with pytest.raises(ImageError):
        convert_image(tall, ImageSettings(image_size=16, max_aspect_ratio=10))


@pytest.mark.parametrize(
    "key,near",
    [
        ((0x1000, 0x2000, 0x3000), (0x1000, 0x2000, 0x3001)),  # One step away on one channel.
        ((0, 0, 0), (100, 200, 50)),  # Near-black under a black key: the same high bytes.
    ],
)
def test_a_sixteen_bit_rgb_key_is_matched_on_all_sixteen_bits(key, near):
    far = (0xFFFF, 0, 0x8080)
    data = _raw_png([[*key, *near, *far]] * 2, 16, 2, struct.pack(">HHH", *key))
    out = convert_image(data, ImageSettings(image_size=100, image_format="png"))
    pixels = _pixels(out)
    assert (pixels[:, 0] == 255).all()  # The key: transparent, so white.
    assert (pixels[:, 1] == [v >> 8 for v in near]).all(), "a colour near the key was made transparent"
    assert (pixels[:, 2] == [255, 0, 128]).all()
