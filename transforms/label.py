"""Stage 2: key each image path by its parent directory name, the class label.

Integer ids follow the im2rec and TFDS convention: a class's id is its
position in the sorted list of distinct labels, unless `--labels_file` fixes
the list. An image with no class folder, or whose class is not in the fixed
list, becomes an error row, never a silent label.
"""

import collections
import unicodedata

import apache_beam as beam

from transforms.errors import ERRORS
from transforms.errors import error_row

STAGE = "label"


def _has_control_characters(name):
    return any(unicodedata.category(character) == "Cc" for character in name)


def relative_path(path, input_root):
    """`path` relative to `input_root`, with '/' separators."""
    root = input_root.rstrip("/") + "/"
    if not path.startswith(root):
        raise ValueError(f"{path!r} is not under {input_root!r}")
    return path[len(root):]


def parent_label(relative):
    """The parent folder name of a relative path, or None at the top level."""
    parts = relative.split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2] else None


class _KeyByParentFolder(beam.DoFn):

    def __init__(self, input_root, known_labels):
        self._input_root = input_root
        self._known_labels = frozenset(known_labels) if known_labels is not None else None

    def process(self, path):
        label = parent_label(relative_path(path, self._input_root))
        if label is None:
            yield error_row(path, STAGE, "no_label",
                            "image is directly under --input; put it in a <label>/ folder")
        elif _has_control_characters(label):
            yield error_row(path, STAGE, "bad_label",
                            f"class folder {label!r} contains control characters "
                            "(labels.txt holds one class per line)")
        elif self._known_labels is not None and label not in self._known_labels:
            yield error_row(path, STAGE, "unknown_label",
                            f"class folder {label!r} is not in --labels_file")
        else:
            yield label, path


class KeyByLabel(beam.PTransform):
    """paths -> (label, path) pairs, with rejected paths on the ERRORS output."""

    def __init__(self, input_root, known_labels=None):
        super().__init__()
        self._input_root = input_root
        self._known_labels = known_labels

    def expand(self, paths):
        return paths | beam.ParDo(
            _KeyByParentFolder(self._input_root, self._known_labels)).with_outputs(
                ERRORS, main="keyed")


class ClassNames(beam.PTransform):
    """(label, path) pairs -> one element: the sorted list of distinct labels.

    With a fixed list (`--labels_file`) the keyed pairs are ignored and the
    fixed list is the result, in its own order.
    """

    def __init__(self, fixed=None):
        super().__init__()
        self._fixed = list(fixed) if fixed is not None else None

    def expand(self, keyed):
        if self._fixed is not None:
            return keyed.pipeline | "FixedLabels" >> beam.Create([self._fixed])
        return (
            keyed
            | "Labels" >> beam.Keys()
            | "Distinct" >> beam.Distinct()
            | "Sorted" >> beam.combiners.ToList()
            | "Sort" >> beam.Map(sorted))


def labels_file_bytes(class_names):
    """labels.txt: line N is the class name of label N."""
    return "".join(name + "\n" for name in class_names).encode("utf-8")


def parse_labels_file(text):
    """Parses a labels file: one class per line, line N is id N.

    A blank line is an error, not skipped: skipping it would silently give
    every later class the id of the line above it."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # Trailing newlines are not classes.
        lines.pop()
    if not lines:
        raise ValueError("labels file is empty")
    names = [line.strip() for line in lines]
    for number, name in enumerate(names, start=1):
        if not name:
            raise ValueError(f"labels file line {number} is blank (line N names class N)")
    duplicates = sorted(n for n, count in collections.Counter(names).items() if count > 1)
    if duplicates:
        first = names.index(duplicates[0])
        again = names.index(duplicates[0], first + 1)
        raise ValueError(f"labels file names class {duplicates[0]!r} twice (lines {first + 1} "
                         f"and {again + 1})")
    return names
