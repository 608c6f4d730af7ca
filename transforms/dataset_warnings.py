"""Every warning a dataset can carry, in one table: its key under
dataset_info.json's "warnings", and the summary line(s) it gives.

dataset_info.py works out each warning's value and writes it under its key
here (only when there is something to say); the end-of-run summary and
--plan print `summary_lines`, in the table's order. A new warning is a key
and a row here, its value in dataset_info.py, and its line in
docs/formats.md's table of dataset_info.json.
"""

from transforms.imaging import ELONGATED_ASPECT_RATIO

# The keys, as dataset_info.json names them (docs/formats.md, "Output layout").
EMPTY_SPLITS = "empty_splits"
SPLITS_WITHOUT_IMAGES = "splits_without_images"
IMAGES_SMALLER_THAN_REQUESTED = "images_smaller_than_requested"
IMAGES_FLAT = "images_flat"
IMAGES_LIKE_NOISE = "images_like_noise"
IMAGES_ELONGATED = "images_elongated"
CLASSES_WITHOUT_IMAGES = "classes_without_images"
CLASSES_WITH_FEWER_IMAGES_THAN_SHARDS = "classes_with_fewer_images_than_shards"
CLASSES_DIFFERING_ONLY_IN_CASE = "classes_differing_only_in_case"
CLASSES_IN_ONE_SPLIT = "classes_in_one_split"
CLASSES_FROM_SEVERAL_FOLDERS = "classes_from_several_folders"

# Classes named in a line; past this, a count (a run over 1,000 classes
# printed a 9 KB line). All of them are in dataset_info.json and `inspect`.
MAX_CLASSES_SHOWN = 20


def counted(n, noun):
    """'1 image', '2 images', '2 classes'."""
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("s") else "s")


def _empty_splits(splits):
    return [
        f"  warning: the {split} split asked for got no images: every class is too "
        "small for its ratio (see dataset_info.json per_class)"
        for split in splits
    ]


def _splits_without_images(splits):
    return [
        f"  warning: the {split} split has no image: every image placed in it failed (see errors.jsonl)"
        for split in splits
    ]


def _smaller(short):
    return [
        f"  warning: {counted(short['count'], 'image')} {'is' if short['count'] == 1 else 'are'} "
        "stored smaller than --image_size asked "
        f"(never upscaled; the smallest side is {short['smallest_side']} px): "
        "--min_size N makes such images error rows instead"
    ]


def _odd(one, several):
    def lines(odd):
        shown = ", ".join(odd["first"][:3]) + (", ..." if odd["count"] > 3 else "")
        return [
            f"  warning: {counted(odd['count'], 'image')} {one if odd['count'] == 1 else several}, "
            f"written all the same: {shown} (all in dataset_info.json)"
        ]

    return lines


def _classes_without_images(empty):
    names = ", ".join(empty["first"][:MAX_CLASSES_SHOWN]) + (", ..." if empty["count"] > MAX_CLASSES_SHOWN else "")
    verb = "has" if empty["count"] == 1 else "have"
    return [f"  warning: {counted(empty['count'], 'class')} in labels.txt {verb} no image in any split: {names}"]


def _fewer_than_shards(small):
    return [
        f"  warning: {counted(small['count'], 'class')} {'has' if small['count'] == 1 else 'have'} "
        "fewer images than their split has shards, so some shards lack them (see dataset_info.json)"
    ]


def _differing_in_case(clashes):
    return [
        f"  warning: classes {' and '.join(repr(label) for label in clash)} differ only in case: "
        "two classes here, one folder on macOS or Windows (rename one folder if they are one class)"
        for clash in clashes[:MAX_CLASSES_SHOWN]
    ]


def _in_one_split(alone):
    shown = ", ".join(f"{c['class']} ({c['split']})" for c in alone["first"][:MAX_CLASSES_SHOWN])
    more = ", ..." if alone["count"] > MAX_CLASSES_SHOWN else ""
    return [
        f"  warning: {counted(alone['count'], 'class')} {'has' if alone['count'] == 1 else 'have'} "
        f"images in one split only: {shown}{more} (too few images for a ratio, or a folder "
        "nested below <split>/<label>/; see dataset_info.json)"
    ]


def _from_several_folders(merged_classes):
    return [
        f"  warning: class {merged['class']!r} gathers images from several folders "
        f"({', '.join(merged['folders'])}); --label_from top takes the class from "
        "the first folder under --input"
        for merged in merged_classes[:MAX_CLASSES_SHOWN]
    ]


# key -> its summary lines from its value, in the order the summary prints them.
_SUMMARY = {
    EMPTY_SPLITS: _empty_splits,
    SPLITS_WITHOUT_IMAGES: _splits_without_images,
    IMAGES_SMALLER_THAN_REQUESTED: _smaller,
    IMAGES_FLAT: _odd("is one flat colour", "are one flat colour"),
    IMAGES_LIKE_NOISE: _odd("looks like noise", "look like noise"),
    IMAGES_ELONGATED: _odd(
        f"has a longer side more than {ELONGATED_ASPECT_RATIO} times its shorter (--max_aspect_ratio rejects such)",
        f"have a longer side more than {ELONGATED_ASPECT_RATIO} times their shorter (--max_aspect_ratio rejects such)",
    ),
    CLASSES_WITHOUT_IMAGES: _classes_without_images,
    CLASSES_WITH_FEWER_IMAGES_THAN_SHARDS: _fewer_than_shards,
    CLASSES_DIFFERING_ONLY_IN_CASE: _differing_in_case,
    CLASSES_IN_ONE_SPLIT: _in_one_split,
    CLASSES_FROM_SEVERAL_FOLDERS: _from_several_folders,
}

# The warnings --plan can give before any image is read (dataset_info.class_warnings).
CLASS_WARNINGS = (CLASSES_DIFFERING_ONLY_IN_CASE, CLASSES_IN_ONE_SPLIT)


def summary_lines(warnings, keys=None):
    """The summary's lines for dataset_info.json's `warnings` (of `keys`
    only, when given), in the table's order; none for an empty value."""
    lines = []
    for key, lines_of in _SUMMARY.items():
        value = warnings.get(key)
        if value and (keys is None or key in keys):
            lines += lines_of(value)
    return lines
