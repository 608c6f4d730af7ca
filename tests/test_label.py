import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from tests.beam_util import local_pipeline
from transforms.label import PARENT
from transforms.label import TOP
from transforms.label import ClassNames
from transforms.label import FoldersOfMergedClasses
from transforms.label import KeyByLabel
from transforms.label import KeyedImage
from transforms.label import label_and_folder
from transforms.label import parent_label
from transforms.label import parse_labels_file
from transforms.paths import relative_path


def test_relative_path_and_parent_label():
    assert relative_path("s3://b/in/ants/1.jpg", "s3://b/in/") == "ants/1.jpg"
    assert relative_path("/data/in/ants/1.jpg", "/data/in") == "ants/1.jpg"
    assert parent_label("ants/1.jpg") == "ants"
    assert parent_label("deep/er/bees/1.jpg") == "bees"
    assert parent_label("1.jpg") is None
    with pytest.raises(ValueError):
        relative_path("/elsewhere/1.jpg", "/data/in")


def test_parse_labels_file():
    assert parse_labels_file("cat\ndog\n  bird \n\n") == ["cat", "dog", "bird"]
    with pytest.raises(ValueError, match=r"class 'cat' twice \(lines 1 and 3\)"):
        parse_labels_file("cat\ndog\ncat\n")
    with pytest.raises(ValueError, match="empty"):
        parse_labels_file("\n \n")
    # A blank line in the middle would shift every later id: refused, not skipped.
    with pytest.raises(ValueError, match="line 2 is blank"):
        parse_labels_file("cat\n\ndog\n")


def test_key_by_label_rejects_top_level_and_unknown_classes():
    paths = ["/in/ants/1.jpg", "/in/bees/2.jpg", "/in/top.jpg", "/in/wasps/3.jpg"]
    with local_pipeline() as p:
        keyed = p | beam.Create(paths) | KeyByLabel("/in", known_labels=["ants", "bees"])
        pairs = keyed.keyed | beam.Map(lambda row: (row.label, row.path))
        assert_that(pairs, equal_to([("ants", "/in/ants/1.jpg"), ("bees", "/in/bees/2.jpg")]), label="keyed")
        reasons = keyed.errors | beam.Map(lambda row: (row["path"], row["stage"], row["reason"]))
        assert_that(
            reasons,
            equal_to([("/in/top.jpg", "label", "no_label"), ("/in/wasps/3.jpg", "label", "unknown_label")]),
            label="errors",
        )


def test_class_names_are_sorted_and_distinct():
    rows = [
        KeyedImage(label=label, path=path)
        for label, path in (("zebra", "a"), ("ant", "b"), ("zebra", "c"), ("Moth", "d"))
    ]
    with local_pipeline() as p:
        names = p | beam.Create(rows) | ClassNames()
        assert_that(names, equal_to([["Moth", "ant", "zebra"]]))


def test_class_names_from_a_fixed_list_keep_its_order():
    with local_pipeline() as p:
        names = p | beam.Create([KeyedImage(label="a", path="x")]) | ClassNames(fixed=["z", "a"])
        assert_that(names, equal_to([["z", "a"]]))


def test_label_and_folder_by_mode():
    assert label_and_folder("cats/2019/a.jpg") == ("2019", "cats/2019")
    assert label_and_folder("cats/2019/a.jpg", TOP) == ("cats", "cats")
    assert label_and_folder("a.jpg") == (None, None)
    assert label_and_folder("a.jpg", TOP) == (None, None)
    # With split folders, the split is not part of the class or its folder.
    assert label_and_folder("train/cats/2019/a.jpg", PARENT, True) == ("2019", "cats/2019")
    assert label_and_folder("train/cats/2019/a.jpg", TOP, True) == ("cats", "cats")
    # Too shallow for a split and a class: AssignSplits rejects it (no_split).
    assert label_and_folder("train/a.jpg", PARENT, True) == ("train", "train")
    assert label_and_folder("train/a.jpg", TOP, True) == (None, None)


def test_merged_classes_name_their_first_folders_whatever_the_order():
    pairs = [("2019", f"{animal}/2019") for animal in ("dogs", "cats", "owls", "bats")] + [("2020", "cats/2020")]
    expected = [{"class": "2019", "folders": ["bats/2019", "cats/2019", "dogs/2019"]}]
    for order in (pairs, pairs[::-1]):
        with local_pipeline() as p:
            merged = p | beam.Create(order) | FoldersOfMergedClasses()
            assert_that(merged, equal_to([expected]))


def test_key_by_label_outputs_in_full():
    # Every output of the stage, messages included: the error rows are what a
    # user reads in errors.jsonl (found by mutmut: messages, the control
    # character check and the folders output were unchecked).
    paths = ["/in/ants/1.jpg", "/in/top.jpg", "/in/bad\tname/2.jpg", "/in/wasps/3.jpg", "/in/ants/2019/4.jpg"]
    with local_pipeline() as p:
        keyed = p | beam.Create(paths) | KeyByLabel("/in/", known_labels=["ants", "bad\tname", "2019"])
        expected = [
            KeyedImage(label="ants", path="/in/ants/1.jpg"),
            KeyedImage(label="2019", path="/in/ants/2019/4.jpg"),
        ]
        assert_that(keyed.keyed, equal_to(expected), label="keyed")
        assert_that(keyed.folders, equal_to([("ants", "ants"), ("2019", "ants/2019")]), label="folders")
        assert_that(
            keyed.errors,
            equal_to(
                [
                    {
                        "path": "/in/top.jpg",
                        "stage": "label",
                        "reason": "no_label",
                        "message": "image is directly under --input; put it in a <label>/ folder",
                    },
                    {
                        "path": "/in/bad\tname/2.jpg",
                        "stage": "label",
                        "reason": "bad_label",
                        "message": "class folder 'bad\\tname' contains control characters (labels.txt holds one "
                        "class per line)",
                    },
                    {
                        "path": "/in/wasps/3.jpg",
                        "stage": "label",
                        "reason": "unknown_label",
                        "message": "class folder 'wasps' is not in --labels_file",
                    },
                ]
            ),
            label="errors",
        )


def test_top_takes_the_first_folder_at_any_depth():
    assert label_and_folder("cats/a.jpg", TOP) == ("cats", "cats")
    assert label_and_folder("cats/2019/x/a.jpg", TOP) == ("cats", "cats")
    assert label_and_folder("train/cats/a.jpg", TOP, True) == ("cats", "cats")
