"""transforms/duplicates.py: the kinds of duplication, groups and the report."""

import json

from transforms import duplicates
from transforms.duplicates import ImageHashes


def _row(path, label, split, source="a" * 64, stored="b" * 64):
    return ImageHashes(source, stored, split, label, path)


def test_kinds():
    def copies(*pairs):
        return [{"label": label, "split": split} for label, split in pairs]

    assert duplicates.kinds_of(copies(("cat", "train"), ("cat", "train"))) == ["within_class"]
    assert duplicates.kinds_of(copies(("cat", "train"), ("dog", "train"))) == ["across_classes"]
    assert duplicates.kinds_of(copies(("cat", "train"), ("cat", "validation"))) == ["across_splits", "within_class"]
    assert duplicates.kinds_of(copies(("cat", "train"), ("dog", "test"), ("dog", "train"))) == [
        "across_splits",
        "across_classes",
        "within_class",
    ]


def test_a_single_image_is_no_group():
    assert duplicates.group(("a" * 64, [_row("cat/1.jpg", "cat", "train")]), duplicates.FILE) == []


def test_group_lists_copies_sorted_by_path():
    rows = [_row("dog/9.jpg", "dog", "validation"), _row("cat/1.jpg", "cat", "train")]
    (group,) = duplicates.group(("a" * 64, rows), duplicates.FILE)
    assert group == {
        "basis": "file",
        "sha256": "a" * 64,
        "kinds": ["across_splits", "across_classes"],
        "copies": [
            {"path": "cat/1.jpg", "label": "cat", "split": "train"},
            {"path": "dog/9.jpg", "label": "dog", "split": "validation"},
        ],
    }


def test_stored_image_groups_only_of_different_files():
    same_file = [_row("cat/1.jpg", "cat", "train"), _row("cat/2.jpg", "cat", "train")]
    assert duplicates.group(("b" * 64, same_file), duplicates.STORED) == []
    different = [_row("cat/1.png", "cat", "train", source="1" * 64), _row("cat/1.bmp", "cat", "train", source="2" * 64)]
    (group,) = duplicates.group(("b" * 64, different), duplicates.STORED)
    assert group["basis"] == "stored_image" and [c["path"] for c in group["copies"]] == ["cat/1.bmp", "cat/1.png"]


def _groups(n, kind_of):
    return [
        {
            "basis": "file",
            "sha256": f"{i:064x}",
            "kinds": [kind_of(i)],
            "copies": [
                {"path": f"c/{i:03d}-a.jpg", "label": "c", "split": "train"},
                {"path": f"c/{i:03d}-b.jpg", "label": "c", "split": "train"},
            ],
        }
        for i in range(n)
    ]


def test_report_counts_and_names_the_worst_first_up_to_20_paths():
    groups = _groups(15, lambda i: "across_splits" if i in (7, 12) else "within_class")
    report = duplicates.report(groups)
    assert report["groups"] == 15 and report["images"] == 30 and report["removed"] == 0
    assert report["groups_by_kind"] == {"across_splits": 2, "across_classes": 0, "within_class": 13}
    first = [group["copies"][0]["path"] for group in report["first"]]
    assert first[:2] == ["c/007-a.jpg", "c/012-a.jpg"] and len(first) == 10  # 10 groups of 2: 20 paths.


def test_a_group_of_many_copies_shows_its_first_ones_only():
    placeholder = {
        "basis": "file",
        "sha256": "f" * 64,
        "kinds": ["within_class"],
        "copies": [{"path": f"a/{i:05d}.jpg", "label": "a", "split": "train"} for i in range(300)],
    }
    report = duplicates.report([*_groups(3, lambda i: "across_splits"), placeholder])
    assert report["images"] == 306
    shown = report["first"]
    assert [len(group["copies"]) for group in shown] == [2, 2, 2, 14]  # 20 paths in all.
    assert shown[3]["copies_total"] == 300 and "copies_total" not in shown[0]
    assert shown[3]["copies"][0]["path"] == "a/00000.jpg"


def test_file_is_sorted_json_lines_whatever_the_order():
    groups = _groups(5, lambda i: "within_class")
    forward = duplicates.duplicates_file_bytes(groups)
    assert forward == duplicates.duplicates_file_bytes(list(reversed(groups)))
    lines = forward.decode().splitlines()
    assert [json.loads(line)["sha256"] for line in lines] == [f"{i:064x}" for i in range(5)]
    assert duplicates.duplicates_file_bytes([]) == b""


def test_image_hashes_cross_the_groupings_shuffles_with_their_own_coder(tmp_path):
    """Each record's hashes cross four shuffles (two for each of its keys): typed, with
    find_duplicates' coder (a plain tuple of strings), not pickled as Beam
    does an untyped NamedTuple (several times slower, and bigger). So do the
    Placed rows after AssignSplits and into the shards' ranking, with theirs."""
    import apache_beam as beam

    from pipeline.convert import job
    from pipeline.convert.main import _parse
    from pipeline.convert.main import _parser
    from tests.conftest import HYMENOPTERA
    from transforms.find_duplicates import ImageHashesCoder

    row = ImageHashes("a" * 64, "b" * 64, "train", "ants", "ants/0 x.jpg")
    assert ImageHashesCoder().decode(ImageHashesCoder().encode(row)) == row
    options = _parse(
        _parser(), ["--input", HYMENOPTERA, "--output", str(tmp_path / "out"), "--validation_ratio", "0.1"]
    )
    pipeline = beam.Pipeline(options=options)
    job.build(pipeline, options)
    proto = pipeline.to_runner_api()
    components = proto.components

    def coder_names(coder_id):
        coder = components.coders[coder_id]
        payload = coder.spec.payload.decode("latin-1")
        return [payload, *(name for part in coder.component_coder_ids for name in coder_names(part))]

    expected = {
        "FindDuplicates/ByHash": "ImageHashesCoder",
        "FindDuplicates/Group/Typed": "ImageHashesCoder",
        "AssignSplits/WithNamedSplits": "PlacedCoder",
        "AssignSplits/RankInClass/ByGroup": "PlacedCoder",
        "PlanShards/RankInClass/ByGroup": "PlacedCoder",
    }
    for label, coder in expected.items():
        (transform,) = [t for t in components.transforms.values() if t.unique_name == label]
        (pcollection,) = transform.outputs.values()
        names = coder_names(components.pcollections[pcollection].coder_id)
        assert any(coder in name for name in names), label
