"""Shard quality of the two writers: label runs per shard and rerun identity.

Run: .venv/bin/python bench/bench_shards.py [--input DIR]
Converts DIR (default: ../shared/data/hymenoptera, else a synthetic 2-class
set) twice with each writer into 4 shards, then reports per writer: records
per shard, label runs per shard (a run is a maximal stretch of one label; a
random order of 100 records from 2 classes has about 50), the longest run,
and whether the two runs gave byte-identical files.
"""

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from images import make_tree  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HYMENOPTERA = os.path.join(ROOT, "..", "shared", "data", "hymenoptera")


def _labels_per_shard(out):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    spec = {"image/class/label": tf.io.FixedLenFeature([], tf.int64)}
    shards = sorted(n for n in os.listdir(out) if n.endswith(".tfrecord"))
    return [
        [
            int(tf.io.parse_single_example(r, spec)["image/class/label"])
            for r in tf.data.TFRecordDataset(os.path.join(out, name))
        ]
        for name in shards
    ]


def _runs(labels):
    runs, longest, current = 0, 0, 0
    for i, label in enumerate(labels):
        current = current + 1 if i and label == labels[i - 1] else 1
        runs += current == 1
        longest = max(longest, current)
    return runs, longest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=None)
    args = parser.parse_args()
    source = args.input or (
        HYMENOPTERA
        if os.path.isdir(HYMENOPTERA)
        else make_tree(os.path.join(ROOT, ".cache", "bench-images", "shards"), 2, 200)
    )
    print(f"input: {source}")
    for writer in ("deterministic", "beam"):
        outs = [tempfile.mkdtemp(prefix="im2tfrecord-shards-") for _ in range(2)]
        for out in outs:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipeline",
                    "--input",
                    source,
                    "--output",
                    out,
                    "--writer",
                    writer,
                    "--num_shards",
                    "4",
                    "--overwrite",
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        shards = _labels_per_shard(outs[0])
        names = sorted(os.listdir(outs[0]))
        identical = all(
            filecmp.cmp(os.path.join(outs[0], n), os.path.join(outs[1], n), shallow=False)
            for n in names
            if n.endswith(".tfrecord")
        )
        stats = [_runs(labels) for labels in shards]
        print(
            f"{writer:>13}: records per shard {[len(s) for s in shards]}, "
            f"label runs per shard {[r for r, _ in stats]}, longest run {[m for _, m in stats]}, "
            f"reruns byte-identical: {identical}"
        )


if __name__ == "__main__":
    main()
