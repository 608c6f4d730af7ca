"""Test helpers: small images to feed the pipeline, and reading its output
back with TensorFlow itself, as a training job would."""

import glob
import io
import json
import os

import numpy as np
from PIL import Image


def save_image(path, size=(64, 48), color=(200, 30, 30), mode="RGB", fmt=None, **save_args):
    """Writes a solid-color image; returns its path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt, **save_args)
    return path


def jpeg_bytes(size=(64, 48), color=(200, 30, 30), mode="RGB", **save_args):
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="JPEG", **save_args)
    return out.getvalue()


def read_examples(paths):
    """Every record of the TFRecord files as a dict of feature -> value, decoded
    with tf.data.TFRecordDataset and tf.io.parse_single_example; images are
    decoded to numpy arrays under 'pixels'."""
    import tensorflow as tf

    records = []
    for raw in tf.data.TFRecordDataset(sorted(paths)):
        example = tf.train.Example.FromString(raw.numpy())
        keys = list(example.features.feature)
        spec = {}
        for key in keys:
            kind = example.features.feature[key].WhichOneof("kind")
            spec[key] = tf.io.FixedLenFeature([], tf.int64 if kind == "int64_list" else tf.string)
        parsed = tf.io.parse_single_example(raw, spec)
        record = {k: v.numpy() for k, v in parsed.items()}
        encoded = record.get("image/encoded", record.get("image"))
        record["pixels"] = tf.io.decode_image(encoded, expand_animations=False).numpy()
        records.append(record)
    return records


def shard_paths(output_dir, split="train"):
    return sorted(glob.glob(os.path.join(output_dir, f"{split}-*-of-*.tfrecord")))


def read_errors(output_dir):
    with open(os.path.join(output_dir, "errors.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_labels(output_dir):
    with open(os.path.join(output_dir, "labels.txt"), encoding="utf-8") as f:
        return f.read().splitlines()


def mean_color(pixels):
    return tuple(np.asarray(pixels, dtype=np.float64).reshape(-1, pixels.shape[-1]).mean(axis=0))


def photo_pixels(size=(64, 48), seed=0):
    """Photo-like RGB pixels: smooth shapes and mild sensor noise, neither a
    flat colour nor noise to pixel_checks.content_kind."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = (
        100
        + 60 * np.sin(x / (7.0 + seed % 5)) * np.cos(y / 9.0)
        + 40 * ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(size) / 3) ** 2)
    )
    pixels = np.stack([base, base * 0.8, 255 - base], axis=-1) + rng.normal(0, 3, (height, width, 3))
    return pixels.clip(0, 255).astype(np.uint8)


def save_photo(path, size=(64, 48), seed=0, fmt=None):
    """Writes a photo-like image (`photo_pixels`); returns its path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(photo_pixels(size, seed)).save(path, format=fmt)
    return path
