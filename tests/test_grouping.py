"""transforms/grouping.py, and the stages that group by key with it: a key
of more items than a group may hold comes in pieces, every item in exactly
one, each piece with its key's count and summary; a manifest naming one path
on many rows, and many copies of one file under --dedupe, give what they
give whole (HOT_KEY_BOUND made small here: 3)."""

import json
import os
import shutil

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pipeline import main
from tests.beam_util import local_pipeline
from tests.records import read_errors
from tests.records import save_photo
from transforms import grouping
from transforms import manifest
from transforms.errors import ERRORS
from transforms.split import seeded_hash


@pytest.fixture
def small_bound(monkeypatch):
    monkeypatch.setattr(grouping, "HOT_KEY_BOUND", 3)


def _spread(item):
    return seeded_hash(0, item, b"test")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.text("xyz", min_size=1, max_size=4)), max_size=30))
def test_every_item_is_in_one_group_or_piece_and_no_group_passes_the_bound(pairs):
    items = {}
    for key, item in pairs:
        items.setdefault(key, []).append(item)

    def check(outputs):
        got = {}
        for key, values, how, summary in outputs:
            assert len(values) <= 3 or how == "piece", "a whole group past the bound"
            if how == "piece":
                count, smallest = summary
                assert count == len(items[key]) > 3 and smallest == min(items[key], key=len)
            got.setdefault(key, []).extend(values)
        assert {key: sorted(values) for key, values in got.items()} == {k: sorted(v) for k, v in items.items()}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grouping, "HOT_KEY_BOUND", 3)
        with local_pipeline() as p:
            grouped = p | beam.Create(pairs) | grouping.GroupInPieces(grouping.Smallest(len), _spread, "test")
            whole = grouped["whole"] | "Whole" >> beam.Map(lambda group: (group[0], list(group[1]), "whole", None))
            pieces = grouped["pieces"] | "Pieces" >> beam.Map(
                lambda piece: (piece[0], list(piece[1].items), "piece", (piece[1].count, piece[1].summary))
            )
            outputs = (whole, pieces) | beam.Flatten() | beam.combiners.ToList()
            assert_that(outputs, lambda found: check(found[0]))


def test_a_path_on_many_rows_keeps_its_first_row(small_bound, tmp_path):
    rows = "".join("a.jpg,cat\n" if n % 3 else f"b{n}.jpg,cat\n" for n in range(12))
    path = tmp_path / "labels.csv"
    path.write_text("path,label\n" + rows)  # a.jpg on 8 rows, lines 3, 4, 6, 7, 9, 10, 12, 13.
    base = str(tmp_path)
    with local_pipeline() as p:
        read = p | manifest.ReadManifest(
            str(path), base=base, label_key=None, class_names_given=False, s3_client_settings={}
        )
        kept = read["keyed"] | "Kept" >> beam.Map(lambda row: (os.path.basename(row.path), row.line))
        assert_that(kept, equal_to([("a.jpg", 3), ("b0.jpg", 2), ("b3.jpg", 5), ("b6.jpg", 8), ("b9.jpg", 11)]))
        repeated = read[ERRORS] | "Rows" >> beam.Map(lambda r: (r["line"], r["reason"], r["message"]))
        message = "line 3 already names this file (label 'cat')"
        assert_that(
            repeated, equal_to([(line, "repeated_path", message) for line in (4, 6, 7, 9, 10, 12, 13)]), label="errors"
        )
        assert_that(
            read[manifest.LINES] | "Lines" >> beam.Map(lambda pair: (os.path.basename(pair[0]), pair[1])),
            equal_to([("a.jpg", 3), ("b0.jpg", 2), ("b3.jpg", 5), ("b6.jpg", 8), ("b9.jpg", 11)]),
            label="lines",
        )


def test_dedupe_keeps_the_smallest_path_of_a_group_in_pieces(small_bound, tmp_path):
    tree = tmp_path / "in"
    original = save_photo(str(tree / "b" / "x.png"), seed=1, fmt="PNG")
    copies = ["a/c1.png", "a/c2.png", "b/y.png", "c/z.png", "c/zz.png", "d/q.png"]
    for copy in copies:
        os.makedirs(tree / os.path.dirname(copy), exist_ok=True)
        shutil.copyfile(original, tree / copy)
    save_photo(str(tree / "d" / "other.png"), seed=2, fmt="PNG")
    out = str(tmp_path / "out")
    assert main(["--input", str(tree), "--output", out, "--dedupe", "--num_shards", "1", "--image_size", "16"]) == 0
    errors = sorted((os.path.relpath(r["path"], tree), r["reason"], r["message"]) for r in read_errors(out))
    message = "the same bytes as a/c1.png (label 'a'), which is written in its place"
    assert errors == [(path, "duplicate", message) for path in sorted(["a/c2.png", "b/x.png", *copies[2:]])]
    with open(os.path.join(out, "duplicates.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) > 1 and all(line["copies_total"] == 7 and line["kept"] == "a/c1.png" for line in lines)
    assert sorted(copy["path"] for line in lines for copy in line["copies"]) == sorted(["b/x.png", *copies])
    assert {tuple(line["kinds"]) for line in lines} == {("across_classes", "within_class")}
    with open(os.path.join(out, "dataset_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["counts"] == {"matched": 8, "written": 2, "failed": 6, "skipped": 0}
    assert info["duplicates"]["groups"] == 1 and info["duplicates"]["removed"] == 6
    assert [copy["path"] for copy in info["duplicates"]["first"][0]["copies"]][:2] == ["a/c1.png", "a/c2.png"]
