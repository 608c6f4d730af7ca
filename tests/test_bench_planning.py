"""bench/bench_planning.py's simulation plans what its synthetic tree holds:
every path in exactly one shard, labelled by its folder, each class as many
times as the tree was generated with. The expectations are worked out here
from the tree's description (N paths over C folders named class_0000...,
class c holding N // C, one more if c < N % C), not from the bench's code."""

import collections
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import bench_planning  # noqa: E402

_N, _CLASSES = 2003, 10  # Uneven on purpose: 3 classes of 201, 7 of 200.
_SHARD_MB, _RECORD_BYTES = 10, 25_000  # Several train shards for 2,003 records.


# Paths per class of the synthetic tree: 3 classes of 201, 7 of 200.
_EXPECTED = {f"class_{c:04d}": 201 if c < 3 else 200 for c in range(_CLASSES)}


def _plan(**extra):
    return bench_planning.simulate(
        _N,
        _CLASSES,
        validation_ratio=0.1,
        shard_size_mb=_SHARD_MB,
        record_bytes=_RECORD_BYTES,
        keep_paths=True,
        **extra,
    )


def test_the_simulated_plan_covers_the_synthetic_tree():
    plan = _plan(measure_shuffle=True)
    expected = _EXPECTED

    paths = [path for _, _, _, path in plan["paths"]]
    assert len(paths) == _N and len(set(paths)) == _N  # Every path once.
    for _, _, label, path in plan["paths"]:
        assert path.startswith("s3://bench-planning/images/")
        assert label == path.split("/")[-2]  # The parent folder.
    assert collections.Counter(label for _, _, label, _ in plan["paths"]) == expected
    assert plan["classes"] == sorted(expected)
    assert (plan["matched"], plan["failed"], plan["skipped"], plan["merged_classes"]) == (_N, 0, 0, [])

    # Validation: round(0.1 * n) of each class, 20 of 200 and of 201.
    by_split = collections.Counter((split, label) for split, _, label, _ in plan["paths"])
    assert {key: n for key, n in by_split.items() if key[0] == "validation"} == {
        ("validation", label): 20 for label in expected
    }
    assert sorted([*key, n] for key, n in by_split.items()) == plan["counts"]

    # Shards: as many as the split's records fill at 10 MiB, each the same
    # size give or take one, and each holding the paths dealt to it.
    in_shard = collections.Counter((split, index) for split, index, _, _ in plan["paths"])
    for split in ("train", "validation"):
        records = sum(n for (s, _), n in by_split.items() if s == split)
        wanted = math.ceil(records * _RECORD_BYTES / (_SHARD_MB * 1024 * 1024))
        shards = [shard for shard in plan["shards"] if shard[0] == split]
        assert [(index, count) for _, index, count, _ in shards] == [(i, wanted) for i in range(wanted)]
        sizes = [size for *_, size in shards]
        assert sum(sizes) == records and max(sizes) - min(sizes) <= 1
        assert sizes == [in_shard[(split, i)] for i in range(wanted)]
    assert len([s for s in plan["shards"] if s[0] == "train"]) > 1

    # The measured shuffle: one element per path into each GroupByKey of
    # paths, one per class folder into the listing's.
    shuffled = {label: (elements, size) for label, elements, size in plan["shuffle"]}
    for label in (
        "MatchImages/Spread/ReshufflePerKey/GroupByKey",
        "AssignSplits/RankInClass/GroupRange",
        "PlanShards/RankInClass/GroupRange",
        "PlanShards/GroupShard",
    ):
        assert shuffled[label][0] == _N and shuffled[label][1] > _N * 55  # At least the path itself.
    assert shuffled["MatchImages/SpreadFolders/ReshufflePerKey/GroupByKey"][0] == _CLASSES

    # The largest group each grouping stage held, from the job's metrics: a
    # class of 201 (to rank it), a shard (the largest of its split's).
    largest = plan["largest_group_by_stage"]
    assert largest["AssignSplits"] == 201 and largest["PlanShards"] == 181  # 201 - 20 for validation.
    assert largest["PlanShards/GroupShard"] == max(size for *_, size in plan["shards"])
    assert plan["largest_group"] == max(largest.values())


def test_the_plan_hash_is_the_same_in_ranges_of_any_size(monkeypatch):
    from transforms import ranking

    whole = _plan()
    monkeypatch.setattr(ranking, "RANGE_TARGET", 16)  # Each class in 13 ranges.
    ranged = _plan()
    assert ranged["plan_sha256"] == whole["plan_sha256"] and len(whole["plan_sha256"]) == 64
    assert ranged["largest_group_by_stage"]["AssignSplits"] <= 2 * 16 < whole["largest_group_by_stage"]["AssignSplits"]


def test_the_manifest_plan_covers_the_same_tree(tmp_path):
    manifest = str(tmp_path / "labels.csv")
    bench_planning.write_manifest(manifest, _N, _CLASSES)
    plan = _plan(manifest=manifest)
    paths = [path for _, _, _, path in plan["paths"]]
    assert len(paths) == _N and len(set(paths)) == _N
    assert all(label == path.split("/")[-2] for _, _, label, path in plan["paths"])
    assert collections.Counter(label for _, _, label, _ in plan["paths"]) == _EXPECTED
    assert (plan["matched"], plan["failed"], plan["skipped"]) == (_N, 0, 0)
