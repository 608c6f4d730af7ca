"""transforms/dedupe.py: one copy of each distinct file, the smallest path,
whatever order the rows come in; the others are error rows naming it."""

import hashlib
import shutil

import apache_beam as beam
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from tests.beam_util import local_pipeline
from tests.records import save_photo
from transforms.dedupe import GROUPS
from transforms.dedupe import DedupeByContent
from transforms.errors import ERRORS
from transforms.label import KeyedImage


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_keeps_the_smallest_path_of_each_group(tmp_path):
    root = tmp_path / "in"
    a = save_photo(str(root / "b" / "x.png"), seed=1, fmt="PNG")
    save_photo(str(root / "a" / "solo.png"), seed=2, fmt="PNG")
    shutil.copyfile(a, root / "a" / "z.png")  # Smaller path than b/x.png: kept.
    (root / "c").mkdir()
    shutil.copyfile(a, root / "c" / "x.png")
    rows = [
        KeyedImage(label=label, path=f"{root}/{path}")
        for label, path in (("b", "b/x.png"), ("c", "c/x.png"), ("a", "a/solo.png"), ("a", "a/z.png"))
    ]
    digest = _sha256(a)
    with local_pipeline() as p:
        out = p | beam.Create(rows) | DedupeByContent(str(root), {})
        kept = out["keyed"] | "Path" >> beam.Map(lambda row: (row.label, row.path[len(str(root)) + 1 :], row.content))
        assert_that(kept, equal_to([("a", "a/solo.png", _sha256(f"{root}/a/solo.png")), ("a", "a/z.png", digest)]))
        errors = out[ERRORS] | "Rows" >> beam.Map(lambda row: (row["path"][len(str(root)) + 1 :], row["reason"]))
        assert_that(errors, equal_to([("b/x.png", "duplicate"), ("c/x.png", "duplicate")]), label="errors")
        groups = out[GROUPS] | "Group" >> beam.Map(lambda g: (g["kept"], [c["path"] for c in g["copies"]], g["kinds"]))
        assert_that(groups, equal_to([("a/z.png", ["a/z.png", "b/x.png", "c/x.png"], ["across_classes"])]), label="g")


def test_an_unreadable_file_is_an_error_row(tmp_path):
    with local_pipeline() as p:
        out = (
            p
            | beam.Create([KeyedImage(label="a", path=str(tmp_path / "gone.jpg"))])
            | DedupeByContent(str(tmp_path), {})
        )
        assert_that(out["keyed"], equal_to([]))
        reasons = out[ERRORS] | beam.Map(lambda row: (row["stage"], row["reason"]))
        assert_that(reasons, equal_to([("dedupe", "read_error")]), label="errors")
