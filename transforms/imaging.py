"""Decode, normalise, resize and re-encode one image with Pillow.

Real photo collections are messy: EXIF-rotated camera shots, CMYK JPEGs from
print workflows, palette PNGs with transparency, 16-bit scans, animated GIFs.
Everything here turns such bytes into an upright 8-bit RGB (or L) image of the
requested size, or raises `ImageError` with a reason the errors file can carry.

Each image has a time bound as well as a pixel bound (`max_pixels`): Pillow
decodes in steps, reading 64 KiB of source between steps, and the source is
handed to it as a file whose reads fail once the image's time is up; the
deadline is also checked between the steps here. Work inside one step is
bounded by the pixel limit, so an image cannot hold a thread much past its
deadline, and no child process (with its copying and start-up costs) is needed.

Kept free of Beam so it can be unit-tested and benchmarked on its own; the
DoFn in `transforms/beam_writer/decode.py` is a thin wrapper around `convert_image`.
"""

import dataclasses
import io
import time
import warnings

import numpy as np
import PIL
from PIL import Image

from transforms import pixel_checks

RESIZE_MODES = ("shorter_side", "fit", "exact", "center_crop")
IMAGE_FORMATS = ("jpeg", "png")
COLORS = ("rgb", "grayscale")
# --statistics: which pixels dataset_info.json's per-channel statistics count.
# before_encoding (the default): those given to the encoder, already in
# memory, at every STATISTICS_STEP-th row and column. A stored PNG, or an
# original kept as is, holds exactly these pixels; a stored JPEG holds
# others, and which others depends on the reader's decoder (Pillow's and
# TensorFlow's default IDCT differ by more than these differ from Pillow's).
# stored: every pixel of a stored JPEG decoded again with Pillow (as
# pipeline.read and tf_dataset decode it), exact for that decoder.
# Measured by bench/bench_statistics.py (docs/formats.md, "Statistics").
STATISTICS_PIXELS = ("before_encoding", "stored")
# Pillow's histogram of every pixel of a 256 px photo costs about 0.27 ms, 5
# to 8% of converting it; of one pixel in 16, with the count into a shard's
# totals, 0.07-0.08 ms, and over all of hymenoptera's photos the means and
# deviations moved by at most 0.05 levels (docs/formats.md, "Statistics").
STATISTICS_STEP = 4
# --resize_filter: the Pillow filter of the final resample. area is Pillow's
# BOX filter (each output pixel the average of the source pixels it covers),
# the same as tf.image.resize's "area". Costs are measured by
# bench/bench_filters.py and listed in the README's Options table.
RESIZE_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}

# Transparent pixels are composited onto white: it is what most viewers show
# and what the classic converters did. Documented in docs/inputs.md, "Images".
BACKGROUND = (255, 255, 255)

# Pillow formats we agree to parse, whatever the file extension says (JPEG
# covers MPO). Limiting
# the decoders Pillow may try reduces what a hostile file can reach.
_ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF")
Image.init()  # Registers every plugin; Image.open(formats=...) expects them.
# Our own --max_pixels check (from the header, in _open) replaces Pillow's
# decompression-bomb limit, which would otherwise refuse images above twice its
# default (179 MP) whatever --max_pixels says, with a message naming its limit.
Image.MAX_IMAGE_PIXELS = None
# Pillow warns about damaged data it has worked around (bad EXIF, "Truncated
# File Read", malformed MPO/APNG): noise in a million-image log, about images
# that end up as records or error rows anyway. One filter for the process:
# warnings.catch_warnings around each decode is not thread-safe.
warnings.filterwarnings("ignore", module=r"PIL\.")

# Pillow's resize first shrinks by an integer factor with a box filter while the
# image is at least this many times the target, then resamples with the chosen
# filter (whichever --resize_filter is; for area both steps average): much faster,
# and the Pillow docs call the result indistinguishable from a full resample.
_REDUCING_GAP = 3.0

_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG"}
_SOURCE_FORMATS = {"jpeg": ("JPEG",), "png": ("PNG",)}

# Start-of-frame markers of lossless JPEG (SOF3, SOF7, SOF11, SOF15): libjpeg
# cannot scale those while decoding. Draft mode on one (nasty/sharp/testimgl.jpg)
# failed with "broken data stream" or corrupted the heap, and glibc aborted the
# whole process ("double free or corruption"); they are decoded in full.
_LOSSLESS_FRAMES = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
# Other start-of-frame markers: the frame is not lossless (C4, C8, CC are not frames).
_OTHER_FRAMES = frozenset(range(0xC0, 0xD0)) - _LOSSLESS_FRAMES - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM and the restart markers.
_BARE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})

# EXIF orientations 5..8 transpose the image: width and height swap.
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
_ORIENTATION_TAG = 0x0112


def _formats_pillow_turns_upright():
    """The formats whose Pillow loader applies the EXIF orientation itself:
    it reports the upright size from the header and returns upright pixels,
    so turning them again would turn them twice. Pillow 12's TIFF loader does
    (TiffImagePlugin.load_end calls exif_transpose), its JPEG, PNG and WebP
    loaders do not. Found by trying a 2x1 TIFF of orientation 6 rather than
    by Pillow's version, so an upgrade that changes it changes this too."""
    picture = Image.new("L", (2, 1))
    picture.putpixel((0, 0), 255)
    data = io.BytesIO()
    picture.save(data, format="TIFF", tiffinfo={_ORIENTATION_TAG: 6})
    with Image.open(io.BytesIO(data.getvalue())) as probe:
        reported = probe.size
        probe.load()
        turned = probe.size == (1, 2) and probe.getpixel((0, 0)) == 255
    if turned != (reported == (1, 2)):  # Half of it: neither rule below would hold.
        raise ImportError(f"Pillow {PIL.__version__} reports a TIFF's size and pixels in different orientations")
    return frozenset({"TIFF"}) if turned else frozenset()


FORMATS_PILLOW_TURNS_UPRIGHT = _formats_pillow_turns_upright()


class ImageError(Exception):
    """An image that cannot become a record; `reason` names the error class."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """How every image is turned into record bytes (the `--image_*` options)."""

    image_size: int = 256
    resize_mode: str = "shorter_side"
    resize_filter: str = "bicubic"
    image_format: str = "jpeg"
    jpeg_quality: int = 90
    color: str = "rgb"
    keep_original: bool = False
    max_pixels: int = 89_478_485  # Pillow's own default decompression-bomb limit.
    # Far above the 1-3 s a max_pixels photo takes here, so only a pathological
    # file hits it (as a `too_slow` error row), however busy the worker.
    max_seconds_per_image: float = 60.0
    # Images whose upright shorter side is below this are too_small error rows
    # (0: none): without it, a 80x80 image stays 80x80 in a 224 px dataset.
    min_size: int = 0
    # Images whose upright longer side is more than this many times the
    # shorter are extreme_aspect_ratio error rows (0: none): a 31237x193
    # strip is kept at 31237x193 by shorter_side, 6 MP in a 256 px dataset.
    max_aspect_ratio: float = 0
    # Which pixels the statistics count (STATISTICS_PIXELS).
    statistics: str = "before_encoding"

    def __post_init__(self):
        """The one check of these settings, in the words of the flags that set
        them (the converter turns a ValueError here into a usage error)."""
        for flag, value, low, what in (
            ("--image_size", self.image_size, 1, "at least 1"),
            ("--jpeg_quality", self.jpeg_quality, 1, "1..100"),
            ("--max_pixels", self.max_pixels, 1, "at least 1"),
            ("--min_size", self.min_size, 0, "0 or more"),
        ):
            if value < low or (flag == "--jpeg_quality" and value > 100):
                raise ValueError(f"{flag} must be {what}, got {value}")
        if not self.max_seconds_per_image > 0:
            raise ValueError(f"--max_seconds_per_image must be above 0, got {self.max_seconds_per_image:g}")
        if self.max_aspect_ratio and not self.max_aspect_ratio >= 1:
            raise ValueError(f"--max_aspect_ratio must be 0 (none) or at least 1, got {self.max_aspect_ratio:g}")
        for flag, value, allowed in (
            ("--resize_mode", self.resize_mode, RESIZE_MODES),
            ("--resize_filter", self.resize_filter, tuple(RESIZE_FILTERS)),
            ("--image_format", self.image_format, IMAGE_FORMATS),
            ("--color", self.color, COLORS),
            ("--statistics", self.statistics, STATISTICS_PIXELS),
        ):
            if value not in allowed:
                raise ValueError(f"{flag} must be one of {', '.join(allowed)}, got {value!r}")

    @property
    def mode(self):
        return "RGB" if self.color == "rgb" else "L"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvertedImage:
    encoded: bytes
    width: int
    height: int
    channels: int
    format: str  # "JPEG" or "PNG", as the classic converters wrote it.
    # pixel_checks.FLAT or NOISE for a stored image that looks like no photo
    # (counted in the summary's warnings, never rejected); None otherwise.
    content: str = None
    # The upright size before resizing (statistics.py's size histograms).
    source_width: int = None
    source_height: int = None
    # sha256 of the source file's bytes and of `encoded` (duplicates.py), set
    # by the reader's thread once the decode slot is free (converting.py).
    source_sha256: str = None
    stored_sha256: str = None
    # Pixels per level of each channel, channel after channel (256 counts
    # each), of the pixels --statistics counts: statistics.py.
    histogram: tuple = None


def smaller_than_requested(width, height, settings):
    """True if a stored image falls short of --image_size where its mode
    means to reach it: the shorter side (shorter_side, center_crop) or the
    longer side (fit); `exact` always reaches it. Images are never upscaled."""
    if settings.resize_mode == "exact":
        return False
    side = max(width, height) if settings.resize_mode == "fit" else min(width, height)
    return side < settings.image_size


def aspect_ratio(width, height):
    """The longer side over the shorter: 1 for a square, whichever way up."""
    return max(width, height) / min(width, height)


# The shape kind of a source image far longer than it is wide (or the other
# way): above this aspect ratio the run warns, naming it (dataset_info.json
# `images_elongated`). Camera photos are 4:3 to 16:9, panoramas up to about
# 6:1; past 10:1 an image is a strip, a banner or a broken scan, which
# shorter_side stores at its full length and center_crop cuts to a sliver.
ELONGATED = "elongated"
ELONGATED_ASPECT_RATIO = 10


def target_size(width, height, settings):
    """The (width, height) an upright image of this size is resized to."""
    size = settings.image_size
    mode = settings.resize_mode
    if mode == "exact":
        return size, size
    if mode == "fit":
        scale = min(size / width, size / height, 1.0)
    else:  # shorter_side and center_crop scale the shorter side to `size`.
        scale = min(size / min(width, height), 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def convert_image(data, settings):
    """Returns a `ConvertedImage` for the source bytes, or raises `ImageError`."""
    source = _DeadlineFile(data, time.monotonic() + settings.max_seconds_per_image)
    try:
        return _convert(source, data, settings)
    except _OverTime:
        raise ImageError(
            "too_slow", f"converting took over --max_seconds_per_image={settings.max_seconds_per_image:g}"
        ) from None


def _convert(source, data, settings):
    image = _open(source, settings)
    orientation = _orientation(image)
    upright = _upright_size(image.size, orientation)
    if min(upright) < settings.min_size:  # From the header: nothing decoded yet.
        raise ImageError("too_small", f"the shorter side is {min(upright)} px, below --min_size={settings.min_size}")
    if settings.max_aspect_ratio and aspect_ratio(*upright) > settings.max_aspect_ratio:
        raise ImageError(
            "extreme_aspect_ratio",
            f"{upright[0]}x{upright[1]} is {round(aspect_ratio(*upright), 2):g}:1, over --max_aspect_ratio="
            f"{settings.max_aspect_ratio:g}",
        )
    resized = target_size(*upright, settings)
    final = _final_size(resized, settings)

    if _can_keep_original(image, data, orientation, upright, final, settings):
        _load(image)  # A corrupt file must not pass through unchecked.
        # The stored bytes are these: their pixels were just decoded, in the target mode.
        histogram = _histogram(image, settings)
        return ConvertedImage(
            encoded=data,
            width=upright[0],
            height=upright[1],
            channels=len(image.getbands()),
            format=image.format,
            source_width=upright[0],
            source_height=upright[1],
            histogram=histogram,
        )

    if image.format in ("JPEG", "MPO") and not is_lossless_jpeg(data):
        # DCT-domain downscaling: decodes a 12 MP photo several times faster.
        # Asks for at least the resized size, so the final resample still
        # starts from more pixels than it produces.
        image.draft(settings.mode, _upright_size(resized, orientation))
    if image.format in pixel_checks.UNSTABLE_FORMATS:
        _load_twice(image, source, settings)
    else:
        _load(image)
    source.check()
    if image.format == "PNG" and "transparency" in image.info:
        image = _png_transparency(image, data, source)
    image = _apply_orientation(image, orientation)
    image = _to_mode(image, settings.mode)
    source.check()
    image = _resize(image, resized, final, settings)
    source.check()
    encoded = _encode(image, settings)
    return ConvertedImage(
        encoded=encoded,
        width=image.width,
        height=image.height,
        channels=len(image.getbands()),
        format=_PIL_FORMAT[settings.image_format],
        content=pixel_checks.content_kind(image, len(encoded), settings.image_format),
        source_width=upright[0],
        source_height=upright[1],
        histogram=_histogram(image, settings, encoded),
    )


def _histogram(image, settings, encoded=None):
    """Pixels per level of each channel that --statistics counts, of `image`
    (the pixels given to the encoder, or a kept original's) and `encoded`
    (what it was stored as, if it was encoded): with `stored`, every pixel
    of the stored image (a JPEG decoded again); else those at every
    STATISTICS_STEP-th row and column (2, 6, 10, ...), or the middle one of
    a side shorter than that."""
    if settings.statistics == "stored":
        if encoded is not None and settings.image_format == "jpeg":
            return _stored_histogram(encoded, settings)
        return tuple(image.histogram())
    (columns, width), (rows, height) = _samples(image.width), _samples(image.height)
    # NEAREST over a box of whole steps takes the pixel under each output
    # pixel's centre: step * i + step // 2 (side // 2 for a single one).
    return tuple(image.resize((columns, rows), Image.Resampling.NEAREST, box=(0, 0, width, height)).histogram())


def _samples(side):
    """(pixels sampled along a side, the extent they are taken from)."""
    if side < STATISTICS_STEP:
        return 1, side
    count = side // STATISTICS_STEP
    return count, count * STATISTICS_STEP


def _stored_histogram(encoded, settings):
    """The histogram of a stored JPEG's pixels: decoded again, since JPEG
    changes them (a PNG's are those it was encoded from). About 0.7 ms for
    a 256 px photo, where converting it took 4 ms: hence not the default
    (STATISTICS_PIXELS)."""
    with Image.open(io.BytesIO(encoded)) as stored:
        if stored.mode != settings.mode:
            stored = stored.convert(settings.mode)
        return tuple(stored.histogram())


class _OverTime(Exception):
    """Raised inside Pillow's reads; turned into ImageError("too_slow") outside it."""


_bytes_read = io.BytesIO.read


class _DeadlineFile(io.BytesIO):
    """The source bytes as a file whose reads fail once `deadline` has passed."""

    def __init__(self, data, deadline):
        super().__init__(data)
        self._deadline = deadline

    def read(self, size=-1):
        # Inlined (no super(), no check()): Pillow reads a JPEG's header in
        # about 40 small reads, and this ran for each (50 us an image).
        if time.monotonic() > self._deadline:
            raise _OverTime()
        return _bytes_read(self, size)

    def __repr__(self):
        # Pillow names the file in its errors ("cannot identify image file
        # %r"): the default repr's memory address made error rows differ per run.
        return "(the image's bytes)"

    def check(self):
        if time.monotonic() > self._deadline:
            raise _OverTime()

    def reopened(self):
        """The same bytes from the start, with the same deadline."""
        return _DeadlineFile(self.getvalue(), self._deadline)


def _open(source, settings):
    try:
        image = Image.open(source, formats=_ALLOWED_FORMATS)
    except _OverTime:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError("too_large", str(e)) from e
    except Exception as e:  # Pillow raises many types for unreadable headers.
        raise ImageError("decode_error", f"{type(e).__name__}: {e}") from e
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError("decode_error", f"image has no pixels ({width}x{height})")
    if width * height > settings.max_pixels:
        raise ImageError(
            "too_large", f"{width}x{height} = {width * height} pixels is over --max_pixels={settings.max_pixels}"
        )
    return image


def _load(image):
    try:
        image.load()
    except _OverTime:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError("too_large", str(e)) from e
    except Exception as e:
        raise ImageError("decode_error", f"{type(e).__name__}: {e}") from e


def _load_twice(image, source, settings):
    try:
        pixel_checks.load_twice(image, lambda: _open(source.reopened(), settings), _load)
    except pixel_checks.UnstableDecodeError as e:
        raise ImageError("unstable_decode", str(e)) from None


def _orientation(image):
    """The EXIF orientation (1..8) still to apply to the image as Pillow
    opens and loads it: 1 where its loader turns the image itself (its size
    is then upright already); damaged EXIF counts as upright."""
    if image.format in FORMATS_PILLOW_TURNS_UPRIGHT:
        return 1
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # Broken EXIF must not lose an otherwise good photo.
        return 1
    return value if value in range(1, 9) else 1


def _upright_size(size, orientation):
    width, height = size
    return (height, width) if orientation in _TRANSPOSING_ORIENTATIONS else (width, height)


def _apply_orientation(image, orientation):
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return image.transpose(method) if method is not None else image


def _to_mode(image, mode):
    """8-bit RGB or L, with transparency composited onto `BACKGROUND`."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        image = _sixteen_bit_to_l(image)
    elif image.mode == "F":
        image = _float_to_l(image)
    if image.mode == "P" or image.mode == "PA":
        image = image.convert("RGBA")
    elif image.mode in ("L", "RGB", "1") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        image = Image.alpha_composite(background, rgba)
    if image.mode != mode:
        source_mode = image.mode
        image = image.convert(mode)
        if source_mode == "LAB":
            # Pillow converts LAB through ImageCms, which attaches the sRGB
            # profile it built just then, creation time included: a PNG
            # would carry it, different on every run.
            image.info.pop("icc_profile", None)
    return image


def _sixteen_bit_to_l(image):
    """8-bit L, or LA where a transparent sample value is set (a 16-bit PNG's
    tRNS): Pillow's own I->L conversion clips at 255 (a 16-bit scan turns
    white), so the 16-bit range is scaled down here, and the transparency,
    which a new image would not carry, becomes an alpha band."""
    pixels = np.asarray(image).astype(np.int64)
    gray = Image.fromarray((np.clip(pixels, 0, 65535) // 257).astype(np.uint8), "L")
    transparent = image.info.get("transparency")
    if not isinstance(transparent, int):
        return gray
    alpha = Image.fromarray(np.where(pixels == transparent, 0, 255).astype(np.uint8), "L")
    return Image.merge("LA", (gray, alpha))


def _float_to_l(image):
    # Float images carry no agreed range: stretch what is there to 0..255.
    pixels = np.nan_to_num(np.asarray(image, dtype=np.float64))
    low, high = float(pixels.min()), float(pixels.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(((pixels - low) * scale).round().astype(np.uint8), "L")


def _final_size(resized, settings):
    if settings.resize_mode != "center_crop":
        return resized
    side = min(settings.image_size, *resized)
    return side, side


def is_lossless_jpeg(data):
    """True if the JPEG's frame header, among the markers before its first
    scan, is a lossless one."""
    frame = _jpeg_frame(data)
    return frame is not None and frame[0] in _LOSSLESS_FRAMES


def _jpeg_frame(data):
    """(start-of-frame marker, sample precision in bits) of a JPEG's frame
    header, found among the markers before its first scan; None if there is none."""
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # A fill byte before the marker.
            position += 1
        elif marker in _LOSSLESS_FRAMES or marker in _OTHER_FRAMES:
            return marker, data[position + 4] if position + 4 < len(data) else None
        elif marker == 0xDA:  # The scan, before any frame.
            return None
        elif marker in _BARE_MARKERS:
            position += 2
        else:
            position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def _resize(image, resized, final, settings):
    if settings.resize_mode == "center_crop":
        # Crop before resampling, so no pixel from outside the central square
        # bleeds into its edges (a resize box would still sample beyond it),
        # and no work is spent on pixels that are cropped away.
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        resized = final
    if image.size != resized:
        image = image.resize(resized, RESIZE_FILTERS[settings.resize_filter], reducing_gap=_REDUCING_GAP)
    return image


def _can_keep_original(image, data, orientation, upright, final, settings):
    return (
        settings.keep_original
        and image.format in _SOURCE_FORMATS[settings.image_format]
        and orientation == 1
        and upright == final
        and image.mode == settings.mode
        and "transparency" not in image.info
        and getattr(image, "n_frames", 1) == 1
        and _eight_bit_samples(data, image.format, settings.mode)
    )


# PNG colour types (the IHDR's 10th byte) of 8-bit samples stored as is, per mode.
_PNG_COLOUR_TYPES = {"L": 0, "RGB": 2}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _eight_bit_samples(data, image_format, mode):
    """Whether the file stores 8-bit samples of `mode` as a reader decodes
    them: Pillow opens a 16-bit RGB PNG as RGB and a 4-bit grayscale one as
    L, but their bytes are not the 8-bit image the dataset promises (nor is a
    12-bit or lossless JPEG, which TensorFlow cannot decode)."""
    if image_format == "PNG":
        return _png_samples(data) == (8, _PNG_COLOUR_TYPES.get(mode))
    frame = _jpeg_frame(data)
    return frame is not None and frame[0] not in _LOSSLESS_FRAMES and frame[1] == 8


def _png_transparency(image, data, source):
    """A loaded PNG whose tRNS chunk names a key colour (the one sample value
    that is transparent), with the key where Pillow's conversions will find
    it. Pillow 12 loads 2- and 4-bit gray samples scaled to 8 bits and 16-bit
    RGB ones as their high byte, but leaves the key as the file writes it: a
    4-bit key 3 (its pixels loaded as 51) or a 16-bit RGB one then matches no
    pixel, and nothing is transparent. A 2- or 4-bit key is scaled alike (one
    already on Pillow's scale, a multiple of 17 or 85, is at least 2 ** bits
    but for 0, and is left as it is); a 16-bit RGB key is matched on all 16
    bits of each sample (_rgb16_key_as_alpha). 16-bit gray is matched on its
    16-bit samples too (_sixteen_bit_to_l); 1-bit gray Pillow scales itself."""
    bits, colour_type = _png_samples(data) or (None, None)
    key = image.info["transparency"]
    if bits == 16 and colour_type == _PNG_COLOUR_TYPES["RGB"] and isinstance(key, tuple):
        return _rgb16_key_as_alpha(image, source, key)
    if bits in (2, 4) and colour_type == _PNG_COLOUR_TYPES["L"] and isinstance(key, int) and key < 2**bits:
        image.info["transparency"] = key * (255 // (2**bits - 1))
    return image


# Pillow's raw mode that unpacks the second byte of each 16-bit sample of a
# big-endian PNG (it reads them as little-endian and keeps the "high" byte).
_LOW_BYTES_OF_RGB16 = "RGB;16L"


def _rgb16_key_as_alpha(image, source, key):
    """An RGBA image of a 16-bit RGB PNG whose pixels equal to `key` on all
    48 bits are transparent. Pillow keeps only each sample's high byte, so
    comparing those would also turn every pixel within 1/256 of the key
    transparent (near-black ones, under a black key): the low bytes are
    decoded once more, by the same decoder with another raw mode."""
    low = Image.open(source.reopened(), formats=("PNG",))
    low.tile = [(*tile[:3], _LOW_BYTES_OF_RGB16) for tile in low.tile]
    _load(low)
    samples = np.asarray(image, np.uint32) << 8 | np.asarray(low, np.uint32)
    alpha = np.where((samples == np.asarray(key, np.uint32)).all(axis=2), 0, 255).astype(np.uint8)
    image = image.copy()
    del image.info["transparency"]
    image.putalpha(Image.fromarray(alpha, "L"))
    return image


def _png_samples(data):
    """(bit depth, colour type) of a PNG, from its IHDR chunk (signature,
    then length, type, width, height, bit depth, colour type); None for
    bytes that are no PNG."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 26:
        return None
    return data[24], data[25]


def _encode(image, settings):
    out = io.BytesIO()
    if settings.image_format == "jpeg":
        image.save(out, format="JPEG", quality=settings.jpeg_quality)
    else:
        image.save(out, format="PNG", compress_level=6)
    return out.getvalue()
