"""The practical limit: a plain Pillow loop (decode, resize, encode; no
framework) over all cores, on every image file below a folder.

Run: .venv/bin/python bench/pillow_loop.py DIR [--draft] [--size 256]
Prints one JSON line: images, seconds, bytes read.
"""

import argparse
import io
import json
import multiprocessing
import os
import time

from PIL import Image


def convert(path, size, draft):
    with open(path, "rb") as f:
        data = f.read()
    image = Image.open(io.BytesIO(data))
    if draft:
        image.draft("RGB", (size, size))
    image = image.convert("RGB")
    scale = size / min(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return len(data)


def _convert(args):
    return convert(*args)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--draft", action="store_true")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    paths = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(args.root)
        for name in names
        if not name.startswith(".")
    )
    start = time.monotonic()
    with multiprocessing.Pool(os.cpu_count()) as pool:
        read = sum(pool.map(_convert, [(p, args.size, args.draft) for p in paths], chunksize=8))
    print(json.dumps({"images": len(paths), "seconds": time.monotonic() - start, "bytes": read}))


if __name__ == "__main__":
    main()
