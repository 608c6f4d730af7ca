"""Orientation, checked differentially: a picture built upright here (four
coloured quadrants and a white corner marker, wider than tall), stored
turned for each EXIF orientation 2..8 in every format that can carry the
tag, must come out of the converter as that upright picture.

The stored (turned) pixels are made with numpy from the EXIF 2.3 table, not
with Pillow, and the output is compared with the picture itself, not with
Pillow's idea of upright (ImageOps.exif_transpose), so a loader that turns
an image on its own (Pillow 12's TIFF plugin does) and a converter that
turns it again cannot agree by accident.
"""

import io

import numpy as np
import pytest
from PIL import Image

from transforms.imaging import ImageSettings
from transforms.imaging import convert_image

_ORIENTATION_TAG = 0x0112
_WIDTH, _HEIGHT = 48, 32
_QUADRANTS = {  # (row half, column half) -> colour, upright.
    (0, 0): (230, 20, 20),
    (0, 1): (20, 200, 20),
    (1, 0): (20, 20, 230),
    (1, 1): (230, 200, 20),
}
_MARKER = 6  # A white square this wide at the upright top-left corner.


def _upright():
    picture = np.zeros((_HEIGHT, _WIDTH, 3), np.uint8)
    for (row, column), colour in _QUADRANTS.items():
        picture[row * _HEIGHT // 2 : (row + 1) * _HEIGHT // 2, column * _WIDTH // 2 : (column + 1) * _WIDTH // 2] = (
            colour
        )
    picture[:_MARKER, :_MARKER] = 255
    return picture


def _stored(upright, orientation):
    """The pixels a file of this orientation stores, so that a viewer that
    applies the tag shows `upright` (EXIF 2.3, tag 0x0112: 2 mirrored, 3
    turned 180, 4 flipped, 5 transposed, 6 needs a turn clockwise to show,
    7 transversed, 8 needs a turn counter-clockwise)."""
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, 1),  # Stored turned counter-clockwise.
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, -1),
    }[orientation](upright)


def _exif(orientation):
    exif = Image.Exif()
    exif[_ORIENTATION_TAG] = orientation
    return exif


def _save(image, fmt, **kwargs):
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _jpeg(stored, orientation):
    return _save(Image.fromarray(stored), "JPEG", quality=100, subsampling=0, exif=_exif(orientation))


def _jpeg_progressive(stored, orientation):
    return _save(Image.fromarray(stored), "JPEG", quality=100, subsampling=0, progressive=True, exif=_exif(orientation))


def _jpeg_xmp_only(stored, orientation):
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        f'tiff:Orientation="{orientation}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    return _save(Image.fromarray(stored), "JPEG", quality=100, subsampling=0, xmp=xmp)


def _mpo(stored, orientation):
    frames = [Image.fromarray(stored), Image.fromarray(stored)]
    return _save(frames[0], "MPO", save_all=True, append_images=frames[1:], quality=100, exif=_exif(orientation))


def _png(stored, orientation):
    return _save(Image.fromarray(stored), "PNG", exif=_exif(orientation))


def _webp(stored, orientation):
    return _save(Image.fromarray(stored), "WEBP", lossless=True, exif=_exif(orientation))


def _tiff(compression):
    def write(stored, orientation):
        extra = {"compression": compression} if compression else {}
        return _save(Image.fromarray(stored), "TIFF", tiffinfo={_ORIENTATION_TAG: orientation}, **extra)

    return write


def _tiff_multipage(stored, orientation):
    pages = [Image.fromarray(stored), Image.new("RGB", (8, 8))]
    return _save(pages[0], "TIFF", save_all=True, append_images=pages[1:], tiffinfo={_ORIENTATION_TAG: orientation})


def _tiff_16_bit_gray(stored, orientation):
    gray = (stored.astype(np.uint32).sum(axis=2) // 3 * 257).astype(np.uint16)
    return _save(Image.fromarray(gray), "TIFF", tiffinfo={_ORIENTATION_TAG: orientation})


# Every way a file can carry an orientation here, and whether its pixels come
# back exactly (lossless) or within JPEG's error.
_WRITERS = {
    "jpeg": (_jpeg, False),
    "jpeg_progressive": (_jpeg_progressive, False),
    "jpeg_xmp_only": (_jpeg_xmp_only, False),
    "mpo": (_mpo, False),
    "png_exif": (_png, True),
    "webp_lossless": (_webp, True),
    "tiff": (_tiff(None), True),
    "tiff_lzw": (_tiff("tiff_lzw"), True),
    "tiff_deflate": (_tiff("tiff_deflate"), True),
    "tiff_jpeg": (_tiff("jpeg"), False),
    "tiff_multipage": (_tiff_multipage, True),
    "tiff_16_bit_gray": (_tiff_16_bit_gray, True),
}


def _gray(picture):
    return (picture.astype(np.uint32).sum(axis=2) // 3).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", sorted(_WRITERS))
def test_stored_pixels_are_the_upright_picture(kind, orientation):
    write, lossless = _WRITERS[kind]
    upright = _upright()
    stored = np.ascontiguousarray(_stored(upright, orientation))
    assert stored.shape[:2] == ((_HEIGHT, _WIDTH) if orientation <= 4 else (_WIDTH, _HEIGHT))
    data = write(stored, orientation)
    gray = kind.endswith("gray")
    settings = ImageSettings(image_size=1000, image_format="png", color="grayscale" if gray else "rgb")
    out = convert_image(data, settings)
    pixels = np.asarray(Image.open(io.BytesIO(out.encoded)), dtype=np.int64)
    expected = (_gray(upright) if gray else upright).astype(np.int64)
    assert pixels.shape == expected.shape, f"{kind} {orientation}: stored {pixels.shape}, upright {expected.shape}"
    assert (out.source_width, out.source_height) == (_WIDTH, _HEIGHT)  # The size statistics' upright size.
    error = np.abs(pixels - expected)
    if lossless:
        assert error.max() <= 1, f"{kind} {orientation}: not the upright picture"
    else:
        # JPEG blurs the edges between quadrants; away from them each
        # quadrant's colour, and the marker, must be where upright puts them.
        assert error.mean() < 6, f"{kind} {orientation}: not the upright picture (mean error {error.mean():.1f})"
        assert error[_MARKER + 4 : _HEIGHT // 2 - 3, _MARKER + 4 : _WIDTH // 2 - 3].max() < 24
    assert (pixels[1 : _MARKER - 1, 1 : _MARKER - 1] > 230).all(), f"{kind} {orientation}: the marker moved"
