"""The end-of-run summary, read from the dataset_info.json the run wrote.

Reading the written file rather than Beam metrics works the same on every
runner, and shows the user exactly what a reader of the dataset will see.
"""

from transforms import formats
from transforms.imaging import ELONGATED_ASPECT_RATIO

# Classes named per split line; past this, the largest ones and a count (a
# run over 1,000 classes printed a 9 KB line). All of them are in
# dataset_info.json and `im2tfrecord inspect`.
MAX_CLASSES_SHOWN = 20


def _shard_files(record_format):
    """How the output line names a format's shard files: 'the shards', or
    'a .rec, .idx and .lst per shard' where files go beside the records."""
    if not record_format.side_suffixes:
        return "the shards"
    *first, last = [record_format.suffix, *record_format.side_suffixes.values()]
    return f"a {', '.join(first)} and {last} per shard"


def counted(n, noun):
    """'1 image', '2 images', '2 classes'."""
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("s") else "s")


def _per_class(counts):
    if len(counts) <= MAX_CLASSES_SHOWN:
        return ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
    largest = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_CLASSES_SHOWN]
    return (
        ", ".join(f"{label} {n}" for label, n in largest)
        + f" and {len(counts) - MAX_CLASSES_SHOWN} more classes (see dataset_info.json)"
    )


def format_part_summary(part, completed, output, seconds):
    """The end of a --write_part run: what this part wrote, and what makes
    the dataset. `completed` is resume.completed's (ShardInfo, failures) of
    the output."""
    mine = [(info, failures) for info, failures in completed if part.holds(info.index)]
    written = sum(info.num_examples for info, _ in mine)
    failed = sum(failures for _, failures in mine)
    return "\n".join(
        [
            f"part {part} wrote {counted(len(mine), 'shard')}, {counted(written, 'image')}"
            f" ({failed} failed) in {seconds:.1f} s",
            f"  output: {output} (the shards, each with its resume record; no dataset files yet)",
            "  to finish: put every part's files, hidden ones included, in one --output, then run the same "
            "command without --write_part there: it keeps the parts' shards and writes dataset_info.json",
        ]
    )


def format_summary(info, output, seconds, reused=None, recorded=0):
    """Human-readable lines for the end of a run. `reused` is (shards, images)
    kept from an earlier run (interrupted, or its parts: parts.py), if the
    runner counted them; `recorded`, the shards that resume records in
    --output described when the run began."""
    counts = info["counts"]
    kept = reused[1] if reused and reused[0] else 0
    # The rate is of the images converted now: reused shards were only read back.
    rate = (counts["written"] - kept) / seconds if seconds > 0 else 0.0
    if not kept:
        how = f"{rate:.1f} images/s"
    elif kept == counts["written"]:
        how = "all kept from an earlier run, none converted"
    else:
        how = f"{counts['written'] - kept} converted at {rate:.1f} images/s"
    balanced = counts["matched"] == counts["written"] + counts["failed"] + counts["skipped"]
    lines = [
        f"wrote {counted(counts['written'], 'image')} in {seconds:.1f} s ({how})",
        f"  matched {counts['matched']} = written {counts['written']} + failed {counts['failed']}"
        f" + skipped (not images, or hidden) {counts['skipped']}"
        + ("" if balanced else "  << DOES NOT ADD UP: please report this"),
    ]
    if reused and reused[0]:
        rest = "; the rest were converted" if reused[0] < sum(s["num_shards"] for s in info["splits"].values()) else ""
        lines.append(
            f"  resumed: {counted(reused[0], 'shard')} ({counted(reused[1], 'image')}) complete from "
            f"an earlier run (interrupted, or its parts) were verified and kept{rest}"
        )
    if reused is not None and recorded > reused[0]:
        lines.append(
            f"  not resumed: {counted(recorded - reused[0], 'shard')} an earlier run or part left in --output "
            "did not match this run (other flags, input paths or files, or changed shard bytes): converted again"
        )
    for name, split in sorted(info["splits"].items()):
        per_class = _per_class(split.get("per_class", {}))
        lines.append(
            f"  {name}: {counted(split['num_examples'], 'image')} in "
            f"{counted(split['num_shards'], 'shard')} ({split['num_bytes']} bytes)"
            + (f": {per_class}" if per_class else "")
        )
    errors = info["errors"]
    if errors["count"]:
        lines.append(
            "  errors: "
            + ", ".join(f"{reason} {n}" for reason, n in sorted(errors["by_reason"].items()))
            + f" (one row each in {errors['file']})"
        )
    lines += _duplicate_lines(info.get("duplicates"))
    warnings = info.get("warnings", {})
    for split in warnings.get("empty_splits", []):
        lines.append(
            f"  warning: the {split} split asked for got no images: every class is too "
            "small for its ratio (see dataset_info.json per_class)"
        )
    for split in warnings.get("splits_without_images", []):
        lines.append(f"  warning: the {split} split has no image: every image placed in it failed (see errors.jsonl)")
    short = warnings.get("images_smaller_than_requested")
    if short:
        lines.append(
            f"  warning: {counted(short['count'], 'image')} {'is' if short['count'] == 1 else 'are'} "
            "stored smaller than --image_size asked "
            f"(never upscaled; the smallest side is {short['smallest_side']} px): "
            "--min_size N makes such images error rows instead"
        )
    for name, one, several in (
        ("images_flat", "is one flat colour", "are one flat colour"),
        ("images_like_noise", "looks like noise", "look like noise"),
        (
            "images_elongated",
            f"has a longer side more than {ELONGATED_ASPECT_RATIO} times its shorter (--max_aspect_ratio rejects such)",
            f"have a longer side more than {ELONGATED_ASPECT_RATIO} times their shorter "
            "(--max_aspect_ratio rejects such)",
        ),
    ):
        odd = warnings.get(name)
        if odd:
            shown = ", ".join(odd["first"][:3]) + (", ..." if odd["count"] > 3 else "")
            lines.append(
                f"  warning: {counted(odd['count'], 'image')} {one if odd['count'] == 1 else several}, "
                f"written all the same: {shown} (all in dataset_info.json)"
            )
    empty = warnings.get("classes_without_images")
    if empty:
        names = ", ".join(empty["first"][:MAX_CLASSES_SHOWN]) + (", ..." if empty["count"] > MAX_CLASSES_SHOWN else "")
        verb = "has" if empty["count"] == 1 else "have"
        lines.append(
            f"  warning: {counted(empty['count'], 'class')} in labels.txt {verb} no image in any split: {names}"
        )
    small = warnings.get("classes_with_fewer_images_than_shards")
    if small:
        lines.append(
            f"  warning: {counted(small['count'], 'class')} {'has' if small['count'] == 1 else 'have'} "
            "fewer images than their split has shards, so some shards lack them (see dataset_info.json)"
        )
    lines += class_warning_lines(warnings)
    for merged in warnings.get("classes_from_several_folders", [])[:MAX_CLASSES_SHOWN]:
        lines.append(
            f"  warning: class {merged['class']!r} gathers images from several folders "
            f"({', '.join(merged['folders'])}); --label_from top takes the class from "
            "the first folder under --input"
        )
    shards = _shard_files(formats.get(info.get("format", formats.TFRECORD)))
    side = "errors.jsonl, duplicates.jsonl" if "duplicates" in info else "errors.jsonl"
    lines.append(f"  output: {output} (labels.txt, {side}, dataset_info.json and {shards})")
    return "\n".join(lines)


def class_warning_lines(warnings):
    """The lines of dataset_info.class_warnings' warnings (a run's summary and --plan)."""
    lines = []
    for clash in warnings.get("classes_differing_only_in_case", [])[:MAX_CLASSES_SHOWN]:
        lines.append(
            f"  warning: classes {' and '.join(repr(label) for label in clash)} differ only in case: "
            "two classes here, one folder on macOS or Windows (rename one folder if they are one class)"
        )
    alone = warnings.get("classes_in_one_split")
    if alone:
        shown = ", ".join(f"{c['class']} ({c['split']})" for c in alone["first"][:MAX_CLASSES_SHOWN])
        more = ", ..." if alone["count"] > MAX_CLASSES_SHOWN else ""
        lines.append(
            f"  warning: {counted(alone['count'], 'class')} {'has' if alone['count'] == 1 else 'have'} "
            f"images in one split only: {shown}{more} (too few images for a ratio, or a folder "
            "nested below <split>/<label>/; see dataset_info.json)"
        )
    return lines


# What each kind of duplicate means to the user, worst first.
_DUPLICATE_KINDS = {
    "across_splits": "across splits (leakage: the same image in training and evaluation)",
    "across_classes": "across classes (the same image under two labels)",
    "within_class": "within a class",
}


def _place(copy):
    return copy["label"] if copy["split"] is None else f"{copy['split']}, {copy['label']}"


def _duplicate_lines(duplicates):
    if not duplicates or not duplicates["groups"]:
        return []
    kinds = ", ".join(
        f"{duplicates['groups_by_kind'][kind]} {meaning}"
        for kind, meaning in _DUPLICATE_KINDS.items()
        if duplicates["groups_by_kind"].get(kind)
    )
    removed = duplicates.get("removed", 0)
    lines = [
        f"  duplicates: {counted(duplicates['groups'], 'group')} of identical images "
        f"({duplicates['images']} images): {kinds}"
        + (f"; --dedupe wrote one of each, {removed} copies are error rows" if removed else "")
        + f"; all in {duplicates['file']}"
    ]
    for group in duplicates["first"]:
        copies = ", ".join(f"{copy['path']} ({_place(copy)})" for copy in group["copies"])
        if "copies_total" in group:
            copies += f" and {group['copies_total'] - len(group['copies'])} more copies"
        same = "same file" if group["basis"] == "file" else "same stored image"
        kept = f", kept {group['kept']}" if "kept" in group else ""
        lines.append(f"    {' + '.join(k.replace('_', ' ') for k in group['kinds'])}, {same}{kept}: {copies}")
    shown = sum(len(group["copies"]) for group in duplicates["first"])
    if shown < duplicates["images"]:
        lines.append(f"    ... and {duplicates['images'] - shown} more images in {duplicates['file']}")
    return lines
