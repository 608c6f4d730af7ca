"""Assigns every keyed image to a split (train/validation/test), deterministically.

Every image gets two seeded hashes of its path relative to `--input`, stable
64-bit numbers: `hash` ranks it for its split and its shard, `order` places it
inside its shard. Two independent hashes, because a shard dealt from hash
ranks holds each class's images at evenly spaced hashes: ordering by that
same hash would make the classes alternate almost perfectly instead of
appearing in random order. Splits are stratified: within each class, images are ranked by hash,
the first round(ratio * n) go to validation, the next round(ratio * n) to
test, the rest to train, so per class each split's count is within half an
image of ratio times the class size.

With `--splits_from_folders` the split is instead the first folder below
`--input` (`<input>/<split>/<label>/<image>`, the TFDS ImageFolder layout).
"""

import dataclasses
import hashlib
import math
import re

import apache_beam as beam

from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.label import SPLIT_STAGE as STAGE
from transforms.label import relative_or_full

TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)

# Split folder names become file names: keep them to safe characters.
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclasses.dataclass(frozen=True, order=True)
class Placed:
    """A keyed image with its split and seeded hashes (sorts by `hash` first)."""

    hash: int
    relative_path: str
    path: str
    label: str
    order: int
    split: str = TRAIN


def seeded_hash(seed, relative, purpose=b"place"):
    """A stable 64-bit hash of a relative path; the same on every machine and
    run. `purpose` salts independent hashes of the same path."""
    digest = hashlib.blake2b(
        relative.encode("utf-8"), digest_size=8, person=purpose, key=str(seed).encode("utf-8")
    ).digest()
    return int.from_bytes(digest, "big")


def split_counts(n, validation_ratio, test_ratio):
    """(train, validation, test) counts for a class of n images."""
    validation = math.floor(n * validation_ratio + 0.5)
    test = min(math.floor(n * test_ratio + 0.5), n - validation)
    return n - validation - test, validation, test


def is_valid_split_name(name):
    return bool(_SPLIT_NAME.match(name))


FIXED = "fixed"  # Tag of the images whose split a manifest names: never stratified.


class _Hash(beam.DoFn):
    def __init__(self, input_root, seed, splits_from_folders):
        self._input_root = input_root
        self._seed = seed
        self._splits_from_folders = splits_from_folders

    def process(self, keyed):
        relative = relative_or_full(keyed.path, self._input_root)  # A manifest's paths may lie anywhere.
        placed_by = keyed.content or relative  # Copies of one file land alike, whichever is kept.
        placed = Placed(
            seeded_hash(self._seed, placed_by),
            relative,
            keyed.path,
            keyed.label,
            seeded_hash(self._seed, placed_by, b"order"),
        )
        if keyed.split is not None:
            yield from self._in_named_split(placed, keyed.split)
            return
        if not self._splits_from_folders:
            yield placed
            return
        parts = relative.split("/")  # At least <split>/<label>/<image>: KeyByLabel made sure.
        if not is_valid_split_name(parts[0]):
            yield error_row(
                keyed.path,
                STAGE,
                "bad_split_name",
                f"split folder {parts[0]!r} is not a usable name (letters, digits, _ and -)",
            )
        else:
            yield dataclasses.replace(placed, split=parts[0])

    @staticmethod
    def _in_named_split(placed, split):
        if not is_valid_split_name(split):
            yield error_row(
                placed.path, STAGE, "bad_split_name", f"split {split!r} is not a usable name (letters, digits, _ and -)"
            )
        else:
            yield beam.pvalue.TaggedOutput(FIXED, dataclasses.replace(placed, split=split))


def _stratify(class_and_images, validation_ratio, test_ratio):
    _, images = class_and_images
    ranked = sorted(images)
    _, validation, test = split_counts(len(ranked), validation_ratio, test_ratio)
    for rank, image in enumerate(ranked):
        split = VALIDATION if rank < validation else TEST if rank < validation + test else TRAIN
        yield dataclasses.replace(image, split=split)


class AssignSplits(beam.PTransform):
    """KeyedImage -> Placed, with rejected paths on the ERRORS output. A
    manifest's row with a split keeps that split."""

    def __init__(self, input_root, seed, validation_ratio=0.0, test_ratio=0.0, splits_from_folders=False):
        super().__init__()
        self._input_root = input_root
        self._seed = seed
        self._validation_ratio = validation_ratio
        self._test_ratio = test_ratio
        self._splits_from_folders = splits_from_folders

    def expand(self, keyed):
        hashed = keyed | "Hash" >> beam.ParDo(
            _Hash(self._input_root, self._seed, self._splits_from_folders)
        ).with_outputs(ERRORS, FIXED, main="placed")
        placed = hashed.placed
        if not self._splits_from_folders and (self._validation_ratio or self._test_ratio):
            # Ranking needs each class's hashes together: paths only, a few
            # bytes each, never image data.
            placed = (
                placed
                | "ByClass" >> beam.Map(lambda image: (image.label, image))
                | "GroupClass" >> beam.GroupByKey()
                | "Stratify" >> beam.FlatMap(_stratify, self._validation_ratio, self._test_ratio)
            )
        placed = (placed, hashed[FIXED]) | "WithNamedSplits" >> beam.Flatten()
        return {"placed": placed, ERRORS: hashed[ERRORS]}
