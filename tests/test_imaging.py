"""Unit tests of the image logic: orientation, modes, resizing, limits."""

import io
import os
import subprocess
import sys

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
    out = convert_image(data, ImageSettings(size=100, resize_mode=mode, image_format="png"))
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
    settings = ImageSettings(size=64, resize_filter=name, image_format="png")
    assert np.array_equal(_pixels(convert_image(_encode(image, "PNG"), settings)), expected)


@pytest.mark.parametrize("name", sorted(_PILLOW_FILTERS))
def test_center_crop_resizes_with_the_filter_too(name):
    image = _detailed_image()
    expected = _pillow_resize(image.crop((100, 0, 700, 600)), (64, 64), _PILLOW_FILTERS[name])
    settings = ImageSettings(size=64, resize_mode="center_crop", resize_filter=name, image_format="png")
    assert np.array_equal(_pixels(convert_image(_encode(image, "PNG"), settings)), expected)


def test_resize_filters_give_different_images():
    data = _encode(_detailed_image(), "PNG")
    encoded = {
        name: convert_image(data, ImageSettings(size=64, resize_filter=name)).encoded for name in _PILLOW_FILTERS
    }
    assert len(set(encoded.values())) == len(_PILLOW_FILTERS), "two filters gave the same bytes"


def test_default_resize_filter_is_bicubic():
    assert ImageSettings().resize_filter == "bicubic"
    image = _detailed_image()
    out = convert_image(_encode(image, "PNG"), ImageSettings(size=64, image_format="png"))
    assert np.array_equal(_pixels(out), _pillow_resize(image, (85, 64), Image.Resampling.BICUBIC))


def test_center_crop_keeps_the_center():
    image = Image.new("RGB", (300, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))  # blue middle third
    out = convert_image(_encode(image, "PNG"), ImageSettings(size=50, resize_mode="center_crop", image_format="png"))
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
    out = convert_image(data, ImageSettings(size=1000, image_format="png"))
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
    out = convert_image(data[:2] + bad_exif + data[2:], ImageSettings(size=100))
    assert (out.width, out.height) == (40, 20)


def test_cmyk_jpeg_becomes_rgb():
    data = _encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", quality=95)  # red
    out = convert_image(data, ImageSettings(size=100, image_format="png"))
    assert out.channels == 3
    r, g, b = _pixels(out).reshape(-1, 3).mean(axis=0)
    assert r > 240 and g < 15 and b < 15


def test_palette_transparency_is_composited_on_white():
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 10, 20))  # left half red, right half index 0
    data = _encode(image, "PNG", transparency=0)  # index 0 is transparent
    out = convert_image(data, ImageSettings(size=100, image_format="png"))
    pixels = _pixels(out)
    assert tuple(pixels[5, 2]) == (255, 0, 0)
    assert tuple(pixels[5, 15]) == imaging.BACKGROUND


def test_grayscale_alpha_is_composited_on_white():
    image = Image.new("LA", (10, 10), (0, 0))  # black, fully transparent
    out = convert_image(_encode(image, "PNG"), ImageSettings(size=100, image_format="png"))
    assert (_pixels(out) == 255).all()


def test_sixteen_bit_is_scaled_not_clipped():
    array = np.full((8, 8), 32768, dtype=np.uint16)  # half of the 16-bit range
    data = _encode(Image.fromarray(array), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = convert_image(data, ImageSettings(size=100, image_format="png", color="grayscale"))
    value = np.asarray(_decode(out))
    assert out.channels == 1
    assert (abs(value.astype(int) - 127) <= 1).all()


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 255, 0))]
    out_bytes = io.BytesIO()
    frames[0].save(out_bytes, format="GIF", save_all=True, append_images=frames[1:])
    out = convert_image(out_bytes.getvalue(), ImageSettings(size=100, image_format="png"))
    r, g, _ = _pixels(out).reshape(-1, 3).mean(axis=0)
    assert r > 240 and g < 15


def test_grayscale_output_has_one_channel():
    out = convert_image(jpeg_bytes((30, 30), (200, 200, 200)), ImageSettings(size=100, color="grayscale"))
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
        seen["source"] = self.size
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    out = convert_image(jpeg_bytes((2000, 1600)), ImageSettings(size=100))
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
    out = convert_image(data, ImageSettings(size=100, keep_original=True))
    assert out.encoded == data and (out.width, out.height, out.format) == (80, 60, "JPEG")


def test_keep_original_still_reencodes_when_resizing_is_needed():
    data = jpeg_bytes((400, 300))
    out = convert_image(data, ImageSettings(size=100, keep_original=True))
    assert out.encoded != data and (out.width, out.height) == (133, 100)


def test_keep_original_rejects_a_truncated_file():
    with pytest.raises(ImageError):
        convert_image(jpeg_bytes((80, 60))[:-200], ImageSettings(size=100, keep_original=True))


def test_encoding_is_deterministic():
    data = jpeg_bytes((300, 200), (12, 34, 56))
    assert convert_image(data, ImageSettings()).encoded == convert_image(data, ImageSettings()).encoded


@pytest.mark.parametrize(
    "field,value",
    [
        ("size", 0),
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
    settings = ImageSettings(size=100, max_seconds=100)
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
    converted = convert_image(out.getvalue(), ImageSettings(size=64, max_pixels=200_000_000))
    assert (converted.width, converted.height) == (80, 64)
    with pytest.raises(ImageError) as refused:
        convert_image(out.getvalue(), ImageSettings(size=64, max_pixels=100_000_000))
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
        f"r = imaging.convert_image(open({LOSSLESS_JPEG!r}, 'rb').read(), imaging.ImageSettings(size=64)); "
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
        {"keep_original": True, "size": 4096},
        {"image_format": "png", "keep_original": True, "size": 4096},
    ],
    ids=["jpeg", "png", "grayscale", "kept-jpeg", "kept-png"],
)
def test_histogram_counts_the_pixels_a_reader_decodes(flags, tmp_path):
    from pipeline.read import _decode
    from tests.records import photo_pixels

    source = io.BytesIO()
    fmt = "PNG" if flags.get("image_format") == "png" else "JPEG"
    pixels = photo_pixels((90, 70), seed=4)
    Image.fromarray(pixels if flags.get("color") != "grayscale" else pixels[..., 0]).save(source, format=fmt)
    settings = imaging.ImageSettings(**{"size": 40, **flags})
    converted = imaging.convert_image(source.getvalue(), settings)
    if flags.get("keep_original"):
        assert converted.encoded == source.getvalue()
    stored = _decode(converted.encoded, settings.mode)  # What iter_examples yields.
    counts = [np.bincount(stored[..., c].ravel(), minlength=256) for c in range(stored.shape[2])]
    assert converted.histogram == tuple(int(n) for channel in counts for n in channel)
    assert (converted.source_width, converted.source_height) == (90, 70)
