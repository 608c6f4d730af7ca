"""The contact sheet: one row per class, in label order, of that class's own images."""

import os

import numpy as np
import pytest
from PIL import Image

from pipeline import main as cli_main
from pipeline.inspection import contact_sheet
from pipeline.inspection.checks import run_checks
from pipeline.inspection.contact_sheet import CELL
from pipeline.inspection.contact_sheet import GAP
from pipeline.inspection.contact_sheet import HEADING_WIDTH
from pipeline.inspection.contact_sheet import LINE_HEIGHT
from pipeline.inspection.contact_sheet import TITLE_HEIGHT
from pipeline.inspection.contact_sheet import Layout
from pipeline.inspection.contact_sheet import Row
from pipeline.inspection.contact_sheet import Sample
from pipeline.inspection.contact_sheet import Samples
from pipeline.inspection.dataset import describe
from pipeline.read import read_info
from tests.conftest import HYMENOPTERA
from tests.conftest import needs_hymenoptera
from tests.records import save_image
from transforms.storage import Storage

# Sorted names, so label 0 is blue, 1 green, 2 red.
COLORS = {"blue": (20, 20, 220), "green": (20, 200, 20), "red": (220, 20, 20)}
PER_CLASS = 5
# JPEG re-encoding and resampling move a solid color by a few levels.
TOLERANCE = 12


def expected_size(rows, columns, captions=True):
    """The sheet's size, from the layout the module documents: a title, then per
    row a cell, an optional caption line and a gap; a heading column on the left."""
    width = GAP + HEADING_WIDTH + columns * (CELL + GAP)
    height = TITLE_HEIGHT + rows * (CELL + (LINE_HEIGHT if captions else 0) + GAP) + GAP
    return width, height


def cell_color(page, layout, row, column):
    """Mean color of the middle quarter of a cell (letterbox bars and edges left out)."""
    left, top, right, bottom = layout.cell_box(row, column)
    inner = page.crop((left + CELL // 4, top + CELL // 4, right - CELL // 4, bottom - CELL // 4))
    return tuple(np.asarray(inner, dtype=float).reshape(-1, 3).mean(axis=0))


def close(color, expected):
    return max(abs(a - b) for a, b in zip(color, expected)) <= TOLERANCE


def solid(color, size=(60, 40)):
    return Sample(contact_sheet.thumbnail(Image.new("RGB", size, color)), "x/y.png")


def test_each_row_shows_its_own_samples_at_the_documented_size():
    rows = [
        Row(label, name, tuple(solid(color) for _ in range(3))) for label, (name, color) in enumerate(COLORS.items())
    ]
    rows[1] = Row(1, "green", rows[1].samples[:2])  # A class with fewer samples than columns.
    (page,) = contact_sheet.render(rows, samples_per_class=3, title="t")
    assert page.size == expected_size(3, 3)
    layout = Layout(3)
    for row, color in enumerate(COLORS.values()):
        for column in range(3):
            shown = cell_color(page, layout, row, column)
            if (row, column) == (1, 2):
                assert close(shown, contact_sheet.PAPER)  # Nothing drawn: no fourth sample.
            else:
                assert close(shown, color), (row, column, shown)


def test_thumbnails_are_letterboxed_into_the_cell():
    wide = contact_sheet.thumbnail(Image.new("L", (400, 100), 255))
    assert wide.mode == "RGB" and wide.size == (CELL, CELL // 4)
    small = contact_sheet.thumbnail(Image.new("RGB", (16, 32)))
    assert small.size == (CELL // 2, CELL)  # Scaled up to the cell, aspect kept.


def test_many_classes_go_to_pages(tmp_path):
    rows = [
        Row(label, f"class{label}", (solid((label, 0, 0)),)) for label in range(2 * contact_sheet.ROWS_PER_PAGE + 5)
    ]
    pages = contact_sheet.render(rows, samples_per_class=1, title="t", captions=False)
    assert [page.size for page in pages] == [expected_size(contact_sheet.ROWS_PER_PAGE, 1, False)] * 2 + [
        expected_size(5, 1, False)
    ]
    paths = contact_sheet.save(pages, str(tmp_path / "sheet.png"))
    assert [os.path.basename(p) for p in paths] == [
        "sheet-001-of-003.png",
        "sheet-002-of-003.png",
        "sheet-003-of-003.png",
    ]
    assert all(os.path.exists(p) for p in paths)


def test_empty_class_gets_a_row_saying_so():
    (page,) = contact_sheet.render(
        [Row(0, "cat", ()), Row(1, "dog", (solid((0, 0, 0)),))], samples_per_class=2, title="t"
    )
    assert page.size == expected_size(2, 2)
    assert close(cell_color(page, Layout(2), 1, 0), (0, 0, 0))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    images = tmp_path_factory.mktemp("images")
    for name, color in COLORS.items():
        for n in range(PER_CLASS):
            save_image(str(images / name / f"{n}.png"), size=(48, 36 + 4 * n), color=color, fmt="PNG")
    out = tmp_path_factory.mktemp("dataset") / "out"
    assert cli_main(["--input", str(images), "--output", str(out), "--num_shards", "3", "--image_size", "32"]) == 0
    return out


@pytest.mark.parametrize("columns", [4, PER_CLASS + 1])
def test_sheet_rows_show_the_classes_own_colors(columns, dataset, tmp_path, capsys):
    path = tmp_path / "sheet.png"
    assert cli_main(["inspect", str(dataset), "--contact-sheet", str(path), "--samples_per_class", str(columns)]) == 0
    assert f"contact sheet: {path}" in capsys.readouterr().out
    page = Image.open(path).convert("RGB")
    assert page.size == expected_size(len(COLORS), columns)
    layout = Layout(columns)
    for row, color in enumerate(COLORS.values()):
        for column in range(columns):
            expected = color if column < PER_CLASS else contact_sheet.PAPER
            assert close(cell_color(page, layout, row, column), expected), (row, column)


def test_quick_and_full_pass_pick_the_same_samples(dataset, tmp_path, capsys):
    """The first N of each class in record order, whatever thread reads them,
    with or without the full pass."""
    sheets = []
    for n, flags in enumerate(([], ["--quick"], [])):
        path = tmp_path / f"sheet{n}.png"
        assert (
            cli_main(["inspect", str(dataset), "--contact_sheet", str(path), "--samples_per_class", "3", *flags]) == 0
        )
        sheets.append(path.read_bytes())
    assert sheets[0] == sheets[1] == sheets[2]


@needs_hymenoptera
def test_hymenoptera_rows_hold_their_own_folders_photos(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["--input", HYMENOPTERA, "--output", str(out), "--num_shards", "2", "--image_size", "96"]) == 0
    storage = Storage({})
    dataset = describe(str(out), read_info(storage, str(out)))
    samples = Samples(6, len(dataset.labels))
    findings = run_checks(storage, dataset, samples=samples)
    assert not findings.problems
    for label, taken in samples.by_class().items():
        assert len(taken) == 6
        assert all(s.caption.startswith(dataset.labels[label] + "/") for s in taken)
        # Real photos, not blank cells.
        assert all(np.asarray(s.thumbnail, dtype=float).std() > 10 for s in taken)

    path = tmp_path / "hymenoptera.png"
    assert cli_main(["inspect", str(out), "--contact_sheet", str(path), "--samples_per_class", "6"]) == 0
    assert Image.open(path).size == expected_size(2, 6)
