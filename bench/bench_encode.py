"""Encoding tf.train.Example three ways: ours (transforms/example_proto.py),
tfx-bsl's Arrow encoder, and TensorFlow's proto classes.

Run: .venv/bin/python bench/bench_encode.py [--records N] [--runs R]
Prints, per method: the median time per 1,000 records over R runs, the import
cost (in fresh interpreters), and whether encoding the same records twice gave
the same bytes.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transforms.converting import DecodedImage  # noqa: E402
from transforms.example_proto import serialize_example  # noqa: E402
from transforms.imaging import ConvertedImage  # noqa: E402
from transforms.schema import example_features  # noqa: E402


def _images(n):
    payload = os.urandom(20_000)  # About a 256 px JPEG.
    return [
        DecodedImage(
            "ants" if i % 2 else "bees",
            f"ants/{i}.jpg",
            ConvertedImage(encoded=payload, width=256, height=256, channels=3, format="JPEG"),
        )
        for i in range(n)
    ]


def _ours(images, label_ids):
    return [serialize_example(example_features(d, label_ids[d.label], "default")) for d in images]


def _tfx_bsl(images, label_ids, batch_size=64):
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    encoder = example_coder.RecordBatchToExamplesEncoder()
    out = []
    for start in range(0, len(images), batch_size):
        rows = [example_features(d, label_ids[d.label], "default") for d in images[start : start + batch_size]]
        columns = {
            key: pa.array(
                [[row[key]] for row in rows], pa.list_(pa.int64() if isinstance(rows[0][key], int) else pa.binary())
            )
            for key in rows[0]
        }
        out.extend(encoder.encode(pa.RecordBatch.from_pydict(columns)))
    return out


def _tensorflow(images, label_ids):
    import tensorflow as tf

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    return [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image/encoded": b(d.image.encoded),
                    "image/format": b(b"JPEG"),
                    "image/height": i(d.image.height),
                    "image/width": i(d.image.width),
                    "image/channels": i(3),
                    "image/colorspace": b(b"RGB"),
                    "image/class/label": i(label_ids[d.label]),
                    "image/class/text": b(d.label.encode()),
                    "image/filename": b(d.relative_path.encode()),
                }
            )
        ).SerializeToString()
        for d in images
    ]


def _import_seconds(statement):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    images, label_ids = _images(args.records), {"ants": 0, "bees": 1}
    _tensorflow(images[:10], label_ids)  # Pays the TensorFlow import outside the timing.
    methods = (
        ("ours", _ours, "pass"),
        ("tfx_bsl", _tfx_bsl, "from tfx_bsl.coders import example_coder"),
        ("tensorflow", _tensorflow, "import tensorflow"),
    )
    base = _import_seconds("pass")
    results = {}
    for name, fn, import_statement in methods:
        times, first, stable = [], None, True
        for _ in range(args.runs):
            start = time.perf_counter()
            output = fn(images, label_ids)
            times.append(time.perf_counter() - start)
            first = output if first is None else first
            stable = stable and output == first
            del output  # Keeps memory flat, so later runs are not slowed by paging.
        per_1000 = statistics.median(times) / args.records * 1000
        results[name] = per_1000
        cost = statistics.median(_import_seconds(import_statement) for _ in range(3)) - base
        print(
            f"{name:>10}: {per_1000 * 1000:7.1f} ms per 1,000 records, import {max(cost, 0):.2f} s, "
            f"same bytes every run: {stable}"
        )
    for name in ("tfx_bsl", "tensorflow"):
        print(f"{name} takes {results[name] / results['ours']:.2f}x the time of ours")
    print(f"(median of {args.runs} runs of {args.records} records)")


if __name__ == "__main__":
    main()
