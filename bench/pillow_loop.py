"""The practical limit: a plain Pillow loop doing the work im2tfrecord's
default does to each image, over all cores, with no framework.

The same work, step by step (transforms/imaging.py): read the file, open it,
EXIF orientation from the header, the target size (shorter side to --size,
never upscaled), for JPEG draft (DCT-domain) decoding to at least that size,
load, transpose upright, convert to RGB, resize with the filter and
reducing_gap=3.0, encode JPEG at quality 90. `--full` decodes JPEGs in full
(no draft) to show what draft saves; `--filter bilinear` what the filter costs.

Local: one process per core, each reading its own files.
S3 (`--s3-endpoint`): threads in the main process GET the objects (one boto3
client, as many connections as threads) and feed the bytes to a pool of one
process per core that converts them.

Run: .venv/bin/python bench/pillow_loop.py DIR [--filter bicubic] [--size 256] [--full]
     .venv/bin/python bench/pillow_loop.py s3://bucket/prefix --s3-endpoint URL
Prints one JSON line: images, seconds, bytes read.
"""

import argparse
import concurrent.futures
import io
import json
import multiprocessing
import os
import time

from PIL import Image

FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def convert(data, size, resample, draft):
    """The stored JPEG bytes of one source image."""
    image = Image.open(io.BytesIO(data))
    orientation = image.getexif().get(0x0112, 1)
    width, height = image.size
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    scale = min(size / min(width, height), 1.0)
    target = max(1, round(width * scale)), max(1, round(height * scale))
    if draft and image.format == "JPEG":
        stored = (target[1], target[0]) if orientation in (5, 6, 7, 8) else target
        image.draft("RGB", stored)
    image.load()
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != target:
        image = image.resize(target, resample, reducing_gap=3.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def _convert_file(args):
    path, size, resample, draft = args
    with open(path, "rb") as f:
        data = f.read()
    convert(data, size, resample, draft)
    return len(data)


def _convert_bytes(args):
    convert(*args)
    return len(args[0])


def _local(root, size, resample, draft):
    paths = sorted(
        os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names if not name.startswith(".")
    )
    with multiprocessing.Pool(os.cpu_count()) as pool:
        return len(paths), sum(pool.map(_convert_file, [(p, size, resample, draft) for p in paths], chunksize=8))


def _s3(url, endpoint, size, resample, draft, threads):
    import boto3
    import botocore.config

    bucket, _, prefix = url[len("s3://") :].partition("/")
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "bench-secret-key"),
        region_name="us-east-1",
        config=botocore.config.Config(max_pool_connections=threads),
    )
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
        for item in page.get("Contents", [])
    ]

    def get(key):
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()

    with multiprocessing.Pool(os.cpu_count()) as pool, concurrent.futures.ThreadPoolExecutor(threads) as gets:
        fetched = gets.map(get, keys)
        read = sum(pool.imap_unordered(_convert_bytes, ((d, size, resample, draft) for d in fetched), chunksize=4))
    return len(keys), read


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="folder of images, or s3://bucket/prefix with --s3-endpoint")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--filter", choices=tuple(FILTERS), default="bicubic")
    parser.add_argument("--full", action="store_true", help="decode JPEGs in full, without draft mode")
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--threads", type=int, default=16, help="concurrent GETs from S3")
    args = parser.parse_args()
    start = time.monotonic()
    if args.s3_endpoint:
        images, read = _s3(args.root, args.s3_endpoint, args.size, FILTERS[args.filter], not args.full, args.threads)
    else:
        images, read = _local(args.root, args.size, FILTERS[args.filter], not args.full)
    print(json.dumps({"images": images, "seconds": time.monotonic() - start, "bytes": read}))


if __name__ == "__main__":
    main()
