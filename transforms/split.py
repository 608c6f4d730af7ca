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
from apache_beam import coders

from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.label import SPLIT_STAGE as STAGE
from transforms.layout import TEST
from transforms.layout import TRAIN
from transforms.layout import VALIDATION
from transforms.paths import relative_or_full
from transforms.ranking import RankInGroups

# Split folder names become file names: keep them to safe characters.
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class Placed:
    """A keyed image with its split and seeded hashes (ranked by `rank_key`)."""

    hash: int
    relative_path: str
    path: str
    label: str
    order: int
    split: str = TRAIN


class PlacedCoder(coders.Coder):
    """Placed rows across a shuffle, compact and deterministic: the two
    hashes as 8 bytes each, the strings as UTF-8, and the full path as what
    it adds before the relative one (the input folder). Pickled, a row
    carried its class's module and name and every field's twice over
    (bench/bench_planning.py measures the bytes)."""

    def __init__(self):
        self._fields = coders.TupleCoder([coders.BytesCoder(), *[coders.StrUtf8Coder()] * 4, coders.BytesCoder()])

    def encode(self, placed):
        relative, path = placed.relative_path, placed.path
        prefix = path[: len(path) - len(relative)] if path.endswith(relative) else None
        return self._fields.encode(
            (
                placed.hash.to_bytes(8, "big"),
                relative,
                path if prefix is None else "\x00" + prefix,  # A path never holds a NUL.
                placed.label,
                placed.split,
                placed.order.to_bytes(8, "big"),
            )
        )

    def decode(self, data):
        hash_bytes, relative, path, label, split, order = self._fields.decode(data)
        if path.startswith("\x00"):
            path = path[1:] + relative
        return Placed(int.from_bytes(hash_bytes, "big"), relative, path, label, int.from_bytes(order, "big"), split)

    def is_deterministic(self):
        return True

    def to_type_hint(self):
        return Placed


coders.registry.register_coder(Placed, PlacedCoder)


def rank_key(placed):
    """The order a class's images are ranked in, for their splits and their
    shards: by seeded hash, ties (never seen: the hashes have 64 bits)
    broken by the relative, then the full path. Written out rather than left
    to Placed's field order, so that a change of the row cannot change every
    shard's bytes."""
    return placed.hash, placed.relative_path, placed.path


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


def _stratify(ranked, counts, validation_ratio, test_ratio):
    """A class's image, ranked in its class, -> the image in its split."""
    image, rank = ranked
    _, validation, test = split_counts(counts[image.label], validation_ratio, test_ratio)
    split = VALIDATION if rank < validation else TEST if rank < validation + test else TRAIN
    return dataclasses.replace(image, split=split)


class AssignSplits(beam.PTransform):
    """KeyedImage -> Placed, with rejected paths on the ERRORS output. A
    manifest's row with a split keeps that split."""

    def __init__(self, input_root, *, seed, validation_ratio=0.0, test_ratio=0.0, splits_from_folders=False):
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
            # Each image's rank in its class, by ranges of its hash (ranking.py).
            ranked = placed | "RankInClass" >> RankInGroups(
                lambda image: image.label, rank_key, "AssignSplits", item_type=Placed
            )
            placed = ranked["ranked"] | "Stratify" >> beam.Map(
                _stratify, beam.pvalue.AsDict(ranked["counts"]), self._validation_ratio, self._test_ratio
            )
        # Typed, so that Placed's coder carries the rows across what follows.
        placed = (placed, hashed[FIXED]) | "WithNamedSplits" >> beam.Flatten().with_output_types(Placed)
        return {"placed": placed, ERRORS: hashed[ERRORS]}
