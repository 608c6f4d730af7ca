"""The end-of-run summary, read from the dataset_info.json the run wrote.

Reading the written file rather than Beam metrics works the same on every
runner, and shows the user exactly what a reader of the dataset will see.
"""

from transforms import formats
from transforms import skipped
from transforms.dataset_warnings import MAX_CLASSES_SHOWN
from transforms.dataset_warnings import counted
from transforms.dataset_warnings import summary_lines


def _shard_files(record_format):
    """How the output line names a format's shard files: 'the shards', or
    'a .rec, .idx and .lst per shard' where files go beside the records."""
    if not record_format.side_suffixes:
        return "the shards"
    *first, last = [record_format.suffix, *record_format.side_suffixes.values()]
    return f"a {', '.join(first)} and {last} per shard"


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
    lines += filter(None, [skipped.summary_line(info.get("skipped"))])
    lines += _duplicate_lines(info.get("duplicates"))
    lines += summary_lines(info.get("warnings", {}))
    shards = _shard_files(formats.get(info.get("format", formats.TFRECORD)))
    side = "errors.jsonl, duplicates.jsonl" if "duplicates" in info else "errors.jsonl"
    lines.append(f"  output: {output} (labels.txt, {side}, dataset_info.json and {shards})")
    return "\n".join(lines)


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
