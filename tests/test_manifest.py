"""transforms/manifest.py: parsing the three manifest kinds, line numbers,
labels as names or ids, and ReadManifest's rows through Beam."""

import io

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from tests.beam_util import local_pipeline
from transforms import manifest
from transforms import paths
from transforms.errors import ERRORS
from transforms.label import KeyedImage


def _rows(text, kind, label_key=None):
    return [
        (number, row.reason, str(row))
        if isinstance(row, manifest.RowError)
        else (number, row.path, row.label, row.split)
        for number, row in manifest.rows(io.StringIO(text, newline=""), kind, label_key)
    ]


def test_kind_by_suffix():
    assert manifest.manifest_kind("s3://b/x/labels.CSV") == manifest.CSV
    assert manifest.manifest_kind("/d/train.lst") == manifest.LST
    assert manifest.manifest_kind("/d/out.manifest") == manifest.JSON_LINES
    assert manifest.manifest_kind("/d/a.jsonl") == manifest.JSON_LINES
    with pytest.raises(ValueError, match="suffix '.txt'"):
        manifest.manifest_kind("/d/labels.txt")


def test_csv_rows_with_their_line_numbers():
    text = 'split,label,path\r\ntrain,cat,a.jpg\n\n,dog,"b,c.jpg"\n,owl,"open.jpg\nvalidation,  cat , d.jpg\n,cat,\n'
    assert _rows(text, manifest.CSV) == [
        (2, "a.jpg", "cat", "train"),
        (4, "b,c.jpg", "dog", None),  # Quoted: a comma in the path.
        # An unclosed quote costs its own row only, not every row after it.
        (5, "bad_row", "not a CSV row: unexpected end of data (a quote left open?)"),
        (6, "d.jpg", "cat", "validation"),
        (7, "no_path", "the row's path is empty"),
    ]


def test_csv_without_the_columns_is_refused():
    with pytest.raises(ValueError, match="must name the columns path, label.*it has file, class"):
        _rows("file,class\na.jpg,cat\n", manifest.CSV)


def test_lst_rows_keep_label_ids_as_written():
    text = "0\t1.000000\tbees/a.jpg\n1\t0\tants/b.jpg\n\n3\t2.5\tx.jpg\n4\t1\t2\tboth.jpg\n5\tonly\n"
    assert _rows(text, manifest.LST) == [
        (1, "bees/a.jpg", "1", None),
        (2, "ants/b.jpg", "0", None),
        (4, "bad_label", "label '2.5': an .lst label is a class id, 0 or more"),  # Ids stay ids.
        (5, "multi_label", "2 label columns: one label per image is supported"),
        (6, "bad_row", "an .lst row is index<TAB>label<TAB>path"),
    ]


def test_json_lines_rows():
    text = (
        '{"source-ref": "s3://b/a.jpg", "animal": 3, "animal-metadata": {"class-name": "owl"}}\n'
        '{"source-ref": "s3://b/b.jpg", "animal": "owl", "split": "test"}\n'
        '{"source-ref": "s3://b/c.jpg"}\n'
        "not json\n"
        '{"animal": 1}\n'
        '{"source-ref": "s3://b/d.jpg", "animal": 1, "split": 3}\n'
    )
    rows = _rows(text, manifest.JSON_LINES, "animal")
    assert rows[:2] == [(1, "s3://b/a.jpg", "3", None), (2, "s3://b/b.jpg", "owl", "test")]
    assert [row[:2] for row in rows[2:]] == [(3, "no_label"), (4, "bad_row"), (5, "no_path"), (6, "bad_split_name")]


def test_resolve_against_the_base():
    assert paths.resolve("imgs/a.jpg", "/data/") == ("/data/imgs/a.jpg", "imgs/a.jpg")
    assert paths.resolve("./a.jpg", "s3://b/p") == ("s3://b/p/a.jpg", "a.jpg")
    assert paths.resolve("/elsewhere/a.jpg", "/data") == ("/elsewhere/a.jpg", "/elsewhere/a.jpg")
    assert paths.resolve("s3://b/p/x/a.jpg", "s3://b/p") == ("s3://b/p/x/a.jpg", "x/a.jpg")
    # One file, one name, however the row spells it.
    assert paths.resolve("imgs//a.jpg", "/data") == paths.resolve("imgs/../imgs/./a.jpg", "/data")
    assert paths.resolve("../other/a.jpg", "/data/set") == ("/data/other/a.jpg", "/data/other/a.jpg")
    assert paths.resolve("s3://b/p//x/./a.jpg", "s3://b/p") == ("s3://b/p/x/a.jpg", "x/a.jpg")
    assert manifest.default_base("s3://b/p/labels.csv") == "s3://b/p"


def test_read_manifest_keys_rows_and_rejects_with_line_numbers(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "\ufeffpath,label\na.jpg,cat\nb.jpg,007\nc.jpg,\na.jpg,dog\nd.jpg,ca\x07t\ne.jpg,bird\n", encoding="utf-8"
    )
    base = str(tmp_path)
    with local_pipeline() as p:
        read = p | manifest.ReadManifest(
            str(path), base=base, label_key=None, class_names_given=False, s3_client_settings={}
        )
        expected = [
            KeyedImage(label="cat", path=f"{base}/a.jpg", line=2),
            KeyedImage(label="7", path=f"{base}/b.jpg", line=3),  # "007" is id 7, as "7" is.
            KeyedImage(label="bird", path=f"{base}/e.jpg", line=7),
        ]
        assert_that(read["keyed"], equal_to(expected))
        rows = read[ERRORS] | "Reasons" >> beam.Map(lambda r: (r["line"], r["reason"]))
        assert_that(rows, equal_to([(4, "no_label"), (5, "repeated_path"), (6, "bad_label")]), label="errors")
        assert_that(read["matched"], equal_to([6]), label="matched")


def test_rows_find_their_class_by_id_or_by_name(tmp_path):
    """Each row's label as written finds its class once the classes are known:
    by its line of --labels_file when every label is an id, else by name."""
    path = tmp_path / "labels.csv"
    path.write_text("path,label\na.jpg,0\nb.jpg,2\nc.jpg,3\n")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("path,label\na.jpg,-1\nb.jpg,1\nc.jpg,2\n")
    base = str(tmp_path)
    for source, fixed, expected, errors in (
        (
            path,
            ["10", "2", "0"],
            [("10", 2), ("0", 3)],
            [(4, "unknown_label", "label id 3 is past --labels_file's 3 classes")],
        ),
        (mixed, ["1", "-1"], [("-1", 2), ("1", 3)], [(4, "unknown_label", "label '2' is not in --labels_file")]),
    ):
        with local_pipeline() as p:
            read = p | manifest.ReadManifest(
                str(source), base=base, label_key=None, class_names_given=True, s3_client_settings={}
            )
            classes = read["keyed"] | manifest.ClassesOfManifest(fixed, read[manifest.CLASS_NAMES])
            labelled = read["keyed"] | manifest.LabelByClass(classes)
            rows = labelled.keyed | "Rows" >> beam.Map(lambda row: (row.label, row.line))
            assert_that(rows, equal_to(expected), label="keyed")
            bad = labelled[ERRORS] | "Reasons" >> beam.Map(lambda r: (r["line"], r["reason"], r["message"]))
            assert_that(bad, equal_to(errors), label="errors")


def test_whole_number_labels_without_a_class_list_are_ids():
    def names(*args, **kwargs):
        classes = manifest.manifest_classes(*args, **kwargs)
        return list(classes.names), classes.by_id

    assert names([("2", 4), ("0", 2), ("5", 3)]) == (["0", "1", "2", "3", "4", "5"], True)
    assert names([("2", 4), ("10", 2)], {"2": "owl"}) == ([*"01", "owl", *"3456789", "10"], True)
    assert names([("owl", 4), ("cat", 2), ("Bat", 9)]) == (["Bat", "cat", "owl"], False)  # Names: sorted.


def test_with_a_labels_file_ids_name_its_lines_only_when_every_label_is_one():
    fixed = ["10", "2", "0"]  # Digit names, in no numeric order (im2rec sorts them as text).
    assert manifest.manifest_classes([("0", 2), ("2", 3)], fixed=fixed) == manifest.ManifestClasses(
        ("10", "2", "0"), True
    )
    # Mixed: every label is a name the file must hold, digits too.
    mixed = manifest.manifest_classes([("-1", 2), ("1", 3)], fixed=["1", "-1"])
    assert mixed == manifest.ManifestClasses(("1", "-1"), False)
    with pytest.raises(manifest.ManifestLabelsError, match=r"--manifest line 5: label '-1' is not a class id.*line 2"):
        manifest.manifest_classes([("-1", 5), ("1", 2), ("0", 3)])
    with pytest.raises(manifest.ManifestLabelsError, match="line 7: label '3' is a class id"):
        manifest.manifest_classes([("cat", 2), ("dog", 4), ("3", 7)])
