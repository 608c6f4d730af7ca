"""Skipped files by kind (transforms/skipped.py): the kinds, and their
bounded count, exact and the same whatever the merge order."""

import random

from transforms import skipped


def test_a_skipped_path_s_kind():
    kinds = {
        "a/b.TXT": ".txt",
        "notes.txt": ".txt",  # Directly under --input.
        "a/x.tar.gz": ".gz",
        "a/.b.png": "hidden",
        ".thumbs/x.jpg": "hidden",
        "a/README": "no extension",
        "a.b/README": "no extension",  # A dot in a folder's name is not an extension.
        "a/photo.": "no extension",
        "a/": "folder marker",  # An S3 console's folder marker.
        "": "folder marker",  # The marker of --input itself.
    }
    assert {path: skipped.kind(path) for path in kinds} == kinds


def test_which_files_are_read():
    assert [skipped.is_read(p) for p in ("a/1.JPG", "a/2.tiff", "a/.3.png", ".a/4.png", "a/5.jfif", "a/6")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def _merged(files, seed):
    """`files`' kinds dealt to seed + 1 accumulators, merged in a shuffled order."""
    order = random.Random(seed).sample(files, len(files))
    parts = [skipped.SkippedKinds() for _ in range(seed + 1)]
    for n, kind in enumerate(order):
        parts[n % len(parts)].add(kind)
    random.Random(seed).shuffle(parts)
    return skipped.CountSkipped().merge_accumulators(parts).to_json()


def test_skipped_kinds_are_exact_and_bounded_whatever_the_merge_order():
    # 40 extensions, extension k seen k + 1 times: the first MAX_KINDS in
    # sorted order keep their exact counts, the rest are other kinds, however
    # the files are dealt to workers and merged.
    files = [f".k{k:02d}" for k in range(40) for _ in range(k + 1)]
    expected = {f".k{k:02d}": k + 1 for k in range(skipped.MAX_KINDS)}
    others = len(files) - sum(expected.values())
    for seed in range(5):
        assert _merged(files, seed) == {"count": len(files), "by_kind": expected, "other_kinds": others}
    assert skipped.SkippedKinds().to_json() is None  # Nothing skipped: no "skipped" in dataset_info.json.


def test_named_kinds_are_kept_before_odd_extensions():
    # 40 odd extensions once each and 5,000 hidden files: "hidden" must not
    # be the kind pushed out ("." sorts before every letter).
    files = [f".x{k:02d}" for k in range(40)] + ["hidden"] * 5000 + ["no extension"] * 3
    expected = {"hidden": 5000, "no extension": 3, **{f".x{k:02d}": 1 for k in range(skipped.MAX_KINDS - 2)}}
    for seed in range(3):
        assert _merged(files, seed) == {"count": 5043, "by_kind": expected, "other_kinds": 10}
