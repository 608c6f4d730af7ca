"""Encoding tf.train.Example: tfx-bsl's Arrow encoder vs TensorFlow's protos.

Run: .venv/bin/python bench/bench_encode.py [--records N] [--runs R]
Prints the median time per 1,000 records of each method over R runs, the
ratio, and each method's import cost (measured in fresh interpreters).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transforms.decode import DecodedImage  # noqa: E402
from transforms.encode import encode_examples  # noqa: E402
from transforms.imaging import ConvertedImage  # noqa: E402


def _images(n):
    payload = os.urandom(20_000)  # About a 256 px JPEG.
    return [DecodedImage("ants" if i % 2 else "bees", f"ants/{i}.jpg",
                         ConvertedImage(payload, 256, 256, 3, "JPEG")) for i in range(n)]


def _tfx_bsl(images, label_ids):
    out = []
    for start in range(0, len(images), 64):
        out.extend(encode_examples(images[start:start + 64], label_ids, "default"))
    return out


def _tensorflow(images, label_ids):
    import tensorflow as tf

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    return [tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": b(d.image.encoded), "image/format": b(b"JPEG"),
        "image/height": i(d.image.height), "image/width": i(d.image.width),
        "image/channels": i(3), "image/colorspace": b(b"RGB"),
        "image/class/label": i(label_ids[d.label]), "image/class/text": b(d.label.encode()),
        "image/filename": b(d.relative_path.encode()),
    })).SerializeToString() for d in images]


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
    results = {}
    for name, fn in (("tfx_bsl", _tfx_bsl), ("tensorflow", _tensorflow)):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fn(images, label_ids)
            times.append(time.perf_counter() - start)
        results[name] = statistics.median(times) / args.records * 1000
    base = _import_seconds("pass")
    for name, statement in (("tfx_bsl", "from tfx_bsl.coders import example_coder"),
                            ("tensorflow", "import tensorflow")):
        cost = statistics.median(_import_seconds(statement) for _ in range(3)) - base
        print(f"{name:>10}: {results[name] * 1000:7.1f} ms per 1,000 records, import {cost:.2f} s")
    print(f"tfx_bsl is {results['tensorflow'] / results['tfx_bsl']:.1f}x faster "
          f"(median of {args.runs} runs of {args.records} records)")


if __name__ == "__main__":
    main()
