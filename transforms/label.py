"""Key each image path by its class label: by default its parent
folder's name (--label_from parent), or the first folder under the input
(--label_from top; under the split folder with --splits_from_folders).

With `parent`, nested trees can merge classes silently: cats/2019/a.jpg and
dogs/2019/b.jpg are both class "2019". `FoldersOfMergedClasses` finds every
class whose images come from more than one folder (split folders aside), so
the run can warn about it.

Integer ids follow the im2rec and TFDS convention: a class's id is its
position in the sorted list of distinct labels, unless `--labels_file` fixes
the list. An image with no class folder, or whose class is not in the fixed
list, becomes an error row, never a silent label.
"""

import collections
import dataclasses
import unicodedata

import apache_beam as beam
from apache_beam import coders

from transforms.errors import ERRORS
from transforms.errors import error_row
from transforms.paths import relative_path

STAGE = "label"
# The stage an image outside <split>/<label>/ fails in with --splits_from_folders
# (split.py's; found here, where the path is first taken apart).
SPLIT_STAGE = "split"
PARENT, TOP = "parent", "top"
LABEL_FROM = (PARENT, TOP)
# Folders named per merged class: enough to show the problem.
_FOLDERS_KEPT = 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class KeyedImage:
    """An image with its class: what every stage between keying and
    AssignSplits passes on. Folder rows have a label and a path; a manifest's
    also their `line` and maybe their own `split`; --dedupe adds the file's
    `content` sha256, by which it is then placed."""

    label: str
    path: str
    split: str = None  # A manifest row's split column or attribute.
    line: int = None  # A manifest row's line number.
    content: str = None  # sha256 of the file (--dedupe), which places it.
    # A Ground Truth row's class-name for its id (manifest.py); checked
    # against the other rows', then dropped.
    class_name: str = None


class KeyedImageCoder(coders.Coder):
    """KeyedImage rows across a shuffle, compact and deterministic: the
    fields in order, UTF-8 strings and a variable-length line number, each
    optional one as a presence byte and its value."""

    def __init__(self):
        text, optional = coders.StrUtf8Coder(), coders.NullableCoder
        self._fields = coders.TupleCoder(
            [text, text, optional(text), optional(coders.VarIntCoder()), optional(text), optional(text)]
        )

    def encode(self, row):
        return self._fields.encode((row.label, row.path, row.split, row.line, row.content, row.class_name))

    def decode(self, data):
        label, path, split, line, content, class_name = self._fields.decode(data)
        return KeyedImage(label=label, path=path, split=split, line=line, content=content, class_name=class_name)

    def is_deterministic(self):
        return True

    def to_type_hint(self):
        return KeyedImage


coders.registry.register_coder(KeyedImage, KeyedImageCoder)


def has_control_characters(name):
    return any(unicodedata.category(character) == "Cc" for character in name)


def parent_label(relative):
    """The parent folder name of a relative path, or None at the top level."""
    parts = relative.split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2] else None


def label_and_folder(relative, label_from=PARENT, splits_from_folders=False):
    """(label, the folder it came from, relative to the input with any split
    folder left out); (None, None) for an image above the class level."""
    parts = relative.split("/")
    if label_from == TOP:
        parts = parts[1:] if splits_from_folders else parts
        return (parts[0], parts[0]) if len(parts) >= 2 and parts[0] else (None, None)
    label = parent_label(relative)
    folders = parts[1:-1] if splits_from_folders and len(parts) > 2 else parts[:-1]
    return (label, "/".join(folders)) if label else (None, None)


class _KeyByClassFolder(beam.DoFn):
    def __init__(self, input_root, known_labels, label_from, splits_from_folders):
        self._input_root = input_root
        self._known_labels = frozenset(known_labels) if known_labels is not None else None
        self._label_from = label_from
        self._splits_from_folders = splits_from_folders

    def process(self, path):
        relative = relative_path(path, self._input_root)
        label, folder = label_and_folder(relative, self._label_from, self._splits_from_folders)
        if self._splits_from_folders and relative.count("/") < 2:
            yield error_row(
                path, SPLIT_STAGE, "no_split", "with --splits_from_folders, images go in <split>/<label>/ folders"
            )
        elif label is None:
            yield error_row(path, STAGE, "no_label", "image is directly under --input; put it in a <label>/ folder")
        elif has_control_characters(label):
            yield error_row(
                path,
                STAGE,
                "bad_label",
                f"class folder {label!r} contains control characters (labels.txt holds one class per line)",
            )
        elif self._known_labels is not None and label not in self._known_labels:
            yield error_row(path, STAGE, "unknown_label", f"class folder {label!r} is not in --labels_file")
        else:
            yield KeyedImage(label=label, path=path)
            yield beam.pvalue.TaggedOutput(FOLDERS, (label, folder))


FOLDERS = "folders"


class KeyByLabel(beam.PTransform):
    """paths -> KeyedImage rows, with rejected paths on the ERRORS output
    and (label, folder) pairs on the FOLDERS output."""

    def __init__(self, input_root, known_labels=None, label_from=PARENT, splits_from_folders=False):
        super().__init__()
        self._input_root = input_root
        self._known_labels = known_labels
        self._label_from = label_from
        self._splits_from_folders = splits_from_folders

    def expand(self, paths):
        return paths | beam.ParDo(
            _KeyByClassFolder(self._input_root, self._known_labels, self._label_from, self._splits_from_folders)
        ).with_outputs(ERRORS, FOLDERS, main="keyed")


class _MergedClasses(beam.CombineFn):
    """(label, folder) pairs -> [{"class", "folders"}] for every class found
    in several folders. Keeps at most a few folders per class, so the
    accumulator stays small however many images there are (the first few by
    name, so the result does not depend on the order images arrive in)."""

    def create_accumulator(self):
        return {}

    def add_input(self, folders, pair):
        label, folder = pair
        kept = folders.setdefault(label, set())
        kept.add(folder)
        if len(kept) > _FOLDERS_KEPT:  # The smallest names: the same on every runner.
            kept.remove(max(kept))
        return folders

    def merge_accumulators(self, accumulators):
        merged = {}
        for folders in accumulators:
            for label, kept in folders.items():
                for folder in sorted(kept):
                    self.add_input(merged, (label, folder))
        return merged

    def extract_output(self, folders):
        return [{"class": label, "folders": sorted(kept)} for label, kept in sorted(folders.items()) if len(kept) > 1]


class FoldersOfMergedClasses(beam.PTransform):
    """KeyByLabel's FOLDERS output -> one list: the classes that gather images
    from several folders, each with (up to 3 of) those folders."""

    def expand(self, folders):
        return folders | beam.CombineGlobally(_MergedClasses())


class ClassNames(beam.PTransform):
    """KeyedImage rows of class folders -> one element: the sorted class
    names, or --labels_file's list (`fixed`) in its own order, the rows then
    ignored. A manifest's classes: manifest.ClassesOfManifest."""

    def __init__(self, fixed=None):
        super().__init__()
        self._fixed = list(fixed) if fixed is not None else None

    def expand(self, keyed):
        if self._fixed is not None:
            return keyed.pipeline | "FixedLabels" >> beam.Create([self._fixed])
        return (
            keyed
            | "Labels" >> beam.Map(lambda row: row.label)
            | "AllLabels" >> beam.combiners.ToSet()  # One combine, not a Distinct and a list.
            | "Sort" >> beam.Map(sorted)
        )


def is_class_id(label):
    """A label that is a class id: a whole number, 0 or more, as text ("7")."""
    return label.isdigit() and label.isascii()


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
        raise ValueError(f"labels file names class {duplicates[0]!r} twice (lines {first + 1} and {again + 1})")
    return names
