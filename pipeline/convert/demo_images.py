"""Generates a small labelled image tree for the demo: no downloads needed.

`python -m pipeline.convert.demo_images DIR` writes DIR/<shape>/<n>.<ext>: circles,
squares and triangles of random colours and sizes on random backgrounds,
as JPEG and PNG. Seeded, so every run makes the same files.
"""

import argparse
import os
import random

from PIL import Image
from PIL import ImageDraw

CLASSES = ("circle", "square", "triangle")
IMAGES_PER_CLASS = 40
_SEED = 20261121


def _draw(shape, rng):
    width, height = rng.randint(160, 640), rng.randint(160, 640)
    image = Image.new("RGB", (width, height), tuple(rng.randint(0, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    side = rng.randint(min(width, height) // 3, min(width, height) - 10)
    left, top = rng.randint(0, width - side), rng.randint(0, height - side)
    fill = tuple(rng.randint(0, 255) for _ in range(3))
    if shape == "circle":
        draw.ellipse((left, top, left + side, top + side), fill=fill)
    elif shape == "square":
        draw.rectangle((left, top, left + side, top + side), fill=fill)
    else:
        draw.polygon([(left, top + side), (left + side, top + side), (left + side // 2, top)], fill=fill)
    return image


def make_demo_tree(root, images_per_class=IMAGES_PER_CLASS, seed=_SEED):
    rng = random.Random(seed)
    for shape in CLASSES:
        os.makedirs(os.path.join(root, shape), exist_ok=True)
        for n in range(images_per_class):
            image = _draw(shape, rng)
            ext = "png" if n % 4 == 0 else "jpg"
            image.save(os.path.join(root, shape, f"{shape}_{n:03d}.{ext}"))
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pipeline.convert.demo_images", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="folder to write <shape>/<n>.<ext> into")
    args = parser.parse_args(argv)
    make_demo_tree(args.dir)
    print(f"wrote {len(CLASSES) * IMAGES_PER_CLASS} demo images under {args.dir}")


if __name__ == "__main__":
    main()
