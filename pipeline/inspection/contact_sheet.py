"""The contact sheet of `im2tfrecord inspect`: sample images of each class, one row per class.

A person looking at one picture sees at once whether the folders became the
right classes: a row headed "3 dog" full of cats is a mislabelled folder, a
wrong --labels_file or a reader that numbers classes differently. Counts and
checksums cannot show that; eyes can.

The samples of a class are its first records in dataset order (`Samples`),
so the same dataset always gives the same sheet. Drawing is pure Pillow.
Each row is headed by the class's label id and name, and holds the class's
samples letterboxed into fixed cells, each optionally captioned with its
file name. Rows past `ROWS_PER_PAGE` go to further pages (further
PNG files), so a 1000-class dataset stays legible instead of becoming one
unreadable 150,000-pixel strip; every class still gets its row.
"""

import bisect
import dataclasses
import os
import threading

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
from PIL import ImageOps

# Big enough to tell an ant from a bee; 8 of them still fit a laptop screen's width.
CELL = 128
GAP = 8
# Room for a class name of about 24 characters at FONT_SIZE before it is cut.
HEADING_WIDTH = 220
FONT_SIZE = 14
# Captions are smaller: a typical file name should fit under its CELL-wide image.
CAPTION_FONT_SIZE = 12
LINE_HEIGHT = FONT_SIZE + 4
TITLE_HEIGHT = 2 * LINE_HEIGHT
# 20 rows of about 160 px: a page any image viewer shows whole, zoomed to fit.
ROWS_PER_PAGE = 20

PAPER = (255, 255, 255)
# The letterbox bars: mid-gray, so the edge of a white or black image stays visible.
MAT = (160, 160, 160)
OUTLINE = (90, 90, 90)
INK = (0, 0, 0)
FAINT_INK = (110, 110, 110)
ELLIPSIS = "\u2026"


@dataclasses.dataclass(frozen=True)
class Sample:
    """One image of the sheet: its thumbnail (at most CELL x CELL) and caption."""

    thumbnail: Image.Image
    caption: str = None


@dataclasses.dataclass(frozen=True)
class Row:
    label: int
    name: str
    samples: tuple  # of Sample, in the order they are drawn
    note: str = None  # a line under the heading, such as the class's count


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything goes on a page of `columns` samples per row."""

    columns: int
    captions: bool = True

    def row_height(self):
        return CELL + (LINE_HEIGHT if self.captions else 0) + GAP

    def size(self, rows):
        """(width, height) in pixels of a page of `rows` rows."""
        width = GAP + HEADING_WIDTH + self.columns * (CELL + GAP)
        return width, TITLE_HEIGHT + rows * self.row_height() + GAP

    def cell_box(self, row, column):
        """(left, top, right, bottom) of the cell of sample `column` of page row `row`."""
        left = GAP + HEADING_WIDTH + column * (CELL + GAP)
        top = TITLE_HEIGHT + row * self.row_height()
        return left, top, left + CELL, top + CELL


class Samples:
    """The contact sheet's images: the first `per_class` records of each class
    in dataset order (split, shard, record), whichever thread reads them first.

    Deterministic: a record among its class's first `per_class` always finds
    fewer than `per_class` kept records before it, so it is always wanted.
    """

    def __init__(self, per_class, num_classes):
        self.per_class = per_class
        self._kept = {label: [] for label in range(num_classes)}  # sorted (key, Sample)
        self._lock = threading.Lock()

    def wants(self, label, key):
        with self._lock:
            kept = self._kept[label]
            return len(kept) < self.per_class or key < kept[-1][0]

    def offer(self, label, key, sample):
        with self._lock:
            kept = self._kept[label]
            bisect.insort(kept, (key, sample), key=lambda item: item[0])
            del kept[self.per_class :]

    def complete(self):
        with self._lock:
            return all(len(kept) >= self.per_class for kept in self._kept.values())

    def by_class(self):
        """{label: [Sample, ...]} in dataset order."""
        with self._lock:
            return {label: [sample for _, sample in kept] for label, kept in self._kept.items()}


def thumbnail(image):
    """An RGB copy of a decoded image, scaled (up or down) to fit a cell."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return ImageOps.contain(rgb, (CELL, CELL), Image.Resampling.BICUBIC)


def render(rows, samples_per_class, title, captions=True):
    """The pages (PIL images) of a sheet of `rows`, ROWS_PER_PAGE to a page."""
    layout = Layout(samples_per_class, captions)
    font, small = _font(FONT_SIZE), _font(CAPTION_FONT_SIZE)
    chunks = [rows[i : i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)] or [[]]
    pages = []
    for number, chunk in enumerate(chunks, 1):
        page = Image.new("RGB", layout.size(len(chunk)), PAPER)
        draw = ImageDraw.Draw(page)
        heading = title if len(chunks) == 1 else f"{title}  (page {number} of {len(chunks)})"
        draw.text((GAP, GAP), _fit(heading, page.width - 2 * GAP, font), fill=INK, font=font)
        for index, row in enumerate(chunk):
            _draw_row(draw, page, layout, index, row, font, small)
        pages.append(page)
    return pages


def page_paths(path, count):
    """Where to save `count` pages: `path` itself for one, else path-001-of-NNN.png, ..."""
    if count == 1:
        return [path]
    stem, extension = os.path.splitext(path)
    return [f"{stem}-{n:03d}-of-{count:03d}{extension or '.png'}" for n in range(1, count + 1)]


def save(pages, path):
    """Writes the pages as PNG; returns the paths written."""
    paths = page_paths(path, len(pages))
    for page, target in zip(pages, paths):
        page.save(target, format="PNG", optimize=False)
    return paths


def _draw_row(draw, page, layout, index, row, font, small):
    left, top, _, _ = layout.cell_box(index, 0)
    heading_width = HEADING_WIDTH - GAP
    heading = _fit(f"{row.label}: {row.name}", heading_width, font)
    draw.text((GAP, top), heading, fill=INK, font=font)
    if row.note:
        note = _fit(row.note, heading_width, small)
        draw.text((GAP, top + LINE_HEIGHT), note, fill=FAINT_INK, font=small)
    if not row.samples:
        draw.text((left, top + CELL // 2), "no images of this class", fill=FAINT_INK, font=font)
    for column, sample in enumerate(row.samples[: layout.columns]):
        cell_left, cell_top, cell_right, cell_bottom = layout.cell_box(index, column)
        draw.rectangle((cell_left, cell_top, cell_right - 1, cell_bottom - 1), fill=MAT)
        thumb = sample.thumbnail
        x, y = cell_left + (CELL - thumb.width) // 2, cell_top + (CELL - thumb.height) // 2
        page.paste(thumb, (x, y))
        # An outline, so an image whose edge is the mat's gray still shows where it ends.
        draw.rectangle((x, y, x + thumb.width - 1, y + thumb.height - 1), outline=OUTLINE)
        if layout.captions and sample.caption:
            draw.text(
                (cell_left, cell_bottom + 1), _fit(sample.caption, CELL, small, middle=True), fill=FAINT_INK, font=small
            )


def _fit(text, width, font, middle=False):
    """`text` cut with an ellipsis to fit `width` pixels: at the end, or in the
    middle, which keeps both a file name's folder and its extension."""
    if font.getlength(text) <= width:
        return text
    for keep in range(len(text) - 1, 0, -1):
        if middle:
            head = (keep + 1) // 2
            cut = text[:head] + ELLIPSIS + text[len(text) - (keep - head) :]
        else:
            cut = text[:keep] + ELLIPSIS
        if font.getlength(cut) <= width:
            return cut
    return ELLIPSIS


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only its small bitmap font.
        return ImageFont.load_default()
