"""The end-of-run summary, read from the dataset_info.json the run wrote.

Reading the written file rather than Beam metrics works the same on every
runner, and shows the user exactly what a reader of the dataset will see.
"""



from transforms.layout import RECORDIO


# How the output line names each --format's shard files (TFRecord: "the shards").
_SHARD_FILES = {RECORDIO: "a .rec, .idx and .lst per shard"}


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def format_summary(info, output, seconds):
    """Human-readable lines for the end of a run."""
    counts = info["counts"]
    rate = counts["written"] / seconds if seconds > 0 else 0.0
    balanced = counts["matched"] == counts["written"] + counts["failed"] + counts["skipped"]
    lines = [
        f"wrote {_count(counts['written'], 'image')} in {seconds:.1f} s ({rate:.1f} images/s)",
        f"  matched {counts['matched']} = written {counts['written']} + failed {counts['failed']}"
        f" + skipped (not images) {counts['skipped']}"
        + ("" if balanced else "  << DOES NOT ADD UP: please report this"),
    ]
    for name, split in sorted(info["splits"].items()):
        per_class = ", ".join(f"{label} {n}" for label, n in sorted(split.get("per_class", {}).items()))
        lines.append(f"  {name}: {_count(split['num_examples'], 'image')} in "
                     f"{_count(split['num_shards'], 'shard')} ({split['num_bytes']} bytes): {per_class}")
    errors = info["errors"]
    if errors["count"]:
        lines.append("  errors: " + ", ".join(
            f"{reason} {n}" for reason, n in sorted(errors["by_reason"].items()))
            + f" (one row each in {errors['file']})")
    shards = _SHARD_FILES.get(info.get("format"), "the shards")
    lines.append(f"  output: {output} (labels.txt, errors.jsonl, dataset_info.json and {shards})")
    return "\n".join(lines)
