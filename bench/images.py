"""Synthetic photo-like image trees for the benchmarks, made once and reused.

Smooth random colour fields plus grain: they compress like photos (tens of KB
per 320x240 JPEG), unlike solid colours, so encoded sizes are realistic.
"""

import os

import numpy as np
from PIL import Image


def make_tree(root, classes=2, per_class=100, size=(320, 240), seed=0):
    """Writes root/class_K/NNNNN.jpg unless already there; returns root."""
    marker = os.path.join(root, f".complete-{classes}x{per_class}-{size[0]}x{size[1]}-{seed}")
    if os.path.exists(marker):
        return root
    rng = np.random.default_rng(seed)
    width, height = size
    for k in range(classes):
        folder = os.path.join(root, f"class_{k}")
        os.makedirs(folder, exist_ok=True)
        for n in range(per_class):
            coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
            field = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
            grain = rng.integers(-12, 13, (height, width, 3))
            pixels = np.clip(np.asarray(field, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"{n:05d}.jpg"), quality=90)
    open(marker, "w").close()
    return root


def folder_bytes(root):
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(root) for name in names)
