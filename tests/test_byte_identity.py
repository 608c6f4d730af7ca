"""Planning in bounded pieces (issue 25) changed no byte: every output file of
hymenoptera and the nasty corpus, as TFRecord and RecordIO, with and without
splits, --dedupe and --manifest, is the file the code before it wrote.

The expected sha256 of each file (tests/data/reference_outputs.json) were
written by commit 71edda2, the last before ranking was done in ranges, with

    python -m tests.test_byte_identity --write

errors.jsonl names files by their absolute paths, so its digests are taken
with this clone's data folder written as DATA_TOKEN; those were derived from
71edda2's outputs after checking that today's raw files are those outputs.

Here every class is ranked in ranges of 7 images (RANGE_TARGET made small,
so that hymenoptera's classes of about 120 to 200 images per split span many
ranges, as a class of millions does at the real target): the same bytes must
come out. And duplicate groups of more than 3 copies come in pieces: every
other file is the same, and the pieces put together are the groups.
"""

import hashlib
import json
import os
import sys

import pytest

from tests.conftest import HYMENOPTERA
from tests.conftest import NASTY
from tests.conftest import SHARED_DATA
from tests.conftest import needs_hymenoptera
from tests.conftest import needs_nasty

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "reference_outputs.json")

# name -> (input, flags); a manifest run lists hymenoptera in a CSV first.
CASES = {
    "hymenoptera": (HYMENOPTERA, ["--num_shards", "3"]),
    "hymenoptera-splits": (HYMENOPTERA, ["--num_shards", "3", "--validation_ratio", "0.2", "--test_ratio", "0.1"]),
    "hymenoptera-recordio": (HYMENOPTERA, ["--num_shards", "2", "--validation_ratio", "0.2", "--format", "recordio"]),
    "hymenoptera-dedupe": (HYMENOPTERA, ["--num_shards", "2", "--validation_ratio", "0.2", "--dedupe"]),
    "hymenoptera-manifest": ("manifest", ["--num_shards", "2", "--validation_ratio", "0.2"]),
    "nasty-splits": (NASTY, ["--num_shards", "3", "--validation_ratio", "0.2"]),
    "nasty-recordio": (NASTY, ["--num_shards", "2", "--format", "recordio"]),
}
# dataset_info.json names the input and manifest by their absolute paths,
# which differ from clone to clone: compared with those taken out.
_LOCAL_KEYS = ("source", "manifest")
# The reference counted the stored pixels for its statistics, before
# --statistics existed: these runs ask for them, and dataset_info.json is
# compared without the two fields that name the choice (_without_choice).
_REFERENCE_STATISTICS = ["--statistics", "stored"]
# errors.jsonl names each file by the path it was read from, under this
# clone's ../shared/data: compared with that folder written as DATA_TOKEN.
DATA_TOKEN = b"<shared-data>"


def _manifest(folder):
    """hymenoptera as a CSV manifest of paths relative to it."""
    path = os.path.join(folder, "labels.csv")
    rows = []
    for label in sorted(os.listdir(HYMENOPTERA)):
        for name in sorted(os.listdir(os.path.join(HYMENOPTERA, label))):
            rows.append(f'"{label}/{name}",{label}\n')
    with open(path, "w", encoding="utf-8") as f:
        f.write("path,label\n" + "".join(rows))
    return path


def _convert(name, out, folder):
    from pipeline import main

    source, flags = CASES[name]
    where = ["--manifest", _manifest(folder), "--input", HYMENOPTERA] if source == "manifest" else ["--input", source]
    assert main([*where, "--output", out, *flags, *_REFERENCE_STATISTICS]) == 0


def _digests(out):
    digests = {}
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name), "rb") as f:
            data = f.read()
        if name == "dataset_info.json":
            info = _without_choice(json.loads(data))
            data = json.dumps({k: v for k, v in info.items() if k not in _LOCAL_KEYS}, sort_keys=True).encode()
        elif name == "errors.jsonl":
            data = data.replace(SHARED_DATA.encode(), DATA_TOKEN)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def _without_choice(info):
    """dataset_info.json without what names the --statistics choice, nor
    `skipped` (the skipped files by kind, added after the reference was
    written: tests/test_nasty.py checks it)."""
    skipped = info.pop("skipped", None)
    assert (skipped or {}).get("count", 0) == info["counts"]["skipped"]
    assert info["image"].pop("statistics") == "stored"
    for split in info["splits"].values():
        if split.get("statistics"):
            assert split["statistics"].pop("pixels_counted") == "stored"
    return info


@pytest.fixture(scope="module")
def reference():
    with open(REFERENCE, encoding="utf-8") as f:
        return json.load(f)


@needs_hymenoptera
@needs_nasty
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_file_is_the_one_written_before_ranking_in_ranges(name, reference, tmp_path, monkeypatch):
    from transforms import ranking

    monkeypatch.setattr(ranking, "RANGE_TARGET", 7)
    out = str(tmp_path / "out")
    _convert(name, out, str(tmp_path))
    assert _digests(out) == reference[name]


@needs_nasty
def test_groups_in_pieces_list_every_copy_once_and_report_alike(reference, tmp_path, monkeypatch):
    """The nasty corpus's duplicate groups (up to 29 copies) in pieces of
    about 2: every other file is the same, and the pieces of each group, put
    together, are the group duplicates.jsonl listed whole, each line with
    the whole group's kinds and count."""
    from transforms import grouping

    monkeypatch.setattr(grouping, "HOT_KEY_BOUND", 3)
    out = str(tmp_path / "out")
    _convert("nasty-splits", out, str(tmp_path))
    expected = reference["nasty-splits"]
    digests = _digests(out)
    assert {k: v for k, v in digests.items() if k != "duplicates.jsonl"} == {
        k: v for k, v in expected.items() if k != "duplicates.jsonl"
    }
    with open(os.path.join(out, "duplicates.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    groups = {}
    for line in lines:
        group = groups.setdefault((line["basis"], line["sha256"]), {"kinds": line["kinds"], "copies": []})
        assert line["kinds"] == group["kinds"]  # Each piece has its whole group's kinds.
        group["copies"] += line["copies"]
        if "copies_total" in line:
            group["total"] = line["copies_total"]
    assert any("total" in group for group in groups.values()), "no group came in pieces"
    # The whole groups, from a run that holds them whole.
    monkeypatch.setattr(grouping, "HOT_KEY_BOUND", 10_000)
    whole = str(tmp_path / "whole")
    _convert("nasty-splits", whole, str(tmp_path))
    assert _digests(whole)["duplicates.jsonl"] == expected["duplicates.jsonl"]
    with open(os.path.join(whole, "duplicates.jsonl"), encoding="utf-8") as f:
        for line in map(json.loads, f):
            group = groups.pop((line["basis"], line["sha256"]))
            assert sorted(group["copies"], key=lambda c: c["path"]) == line["copies"]
            assert group["kinds"] == line["kinds"] and group.get("total", len(line["copies"])) == len(line["copies"])
    assert not groups


def _write():
    import tempfile

    digests = {}
    for name in sorted(CASES):
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "out")
            _convert(name, out, folder)
            digests[name] = _digests(out)
    os.makedirs(os.path.dirname(REFERENCE), exist_ok=True)
    with open(REFERENCE, "w", encoding="utf-8") as f:
        json.dump(digests, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write()
