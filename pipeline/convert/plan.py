"""`--plan`: what a conversion would write, from the stages before decoding.

Listing, labels, splits and the shard plan depend on paths alone, so they run
as in a real conversion (the same transforms, the same seeded hashes) and the
plan is exactly what the run will do. Only the output's size is estimated,
from a seeded sample of 32 converted images (--shard_size_mb uses the same
estimate). Nothing is written to --output. The plan always runs on the local
runner: it needs the result back here, and it is listing work.
"""

import json
import os
import tempfile

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipeline.convert import failure_cause
from pipeline.convert import job
from pipeline.convert.options import ConvertOptions
from pipeline.convert.summary import MAX_CLASSES_SHOWN
from pipeline.convert.summary import class_warning_lines
from pipeline.convert.summary import counted
from transforms.dataset_info import class_warnings

# Shards listed one by one up to this many per split; past it, the range.
_SHARDS_SHOWN = 8


def run_plan(options, refusal=None, output=print):
    """Runs the planning stages here and prints the plan, with `refusal`
    (why a real run would refuse --output, from preflight), if any; returns 0."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "plan.json")
        with failure_cause.refusals(), beam.Pipeline(runner=FnApiRunner(), options=options) as p:
            job.build_plan(p, options, path)
        with open(path, encoding="utf-8") as f:
            plan = json.load(f)
    output(format_plan(plan, options.view_as(ConvertOptions)))
    if refusal:
        output(f"  note: a real run would stop here: {refusal}")
    return 0


def format_plan(plan, convert_options):
    splits = {}
    for split, label, count in plan["counts"]:
        splits.setdefault(split, {})[label] = count
    shards = {}
    for split, _, count in plan["shards"]:
        shards.setdefault(split, []).append(count)
    to_convert = sum(sum(split.values()) for split in splits.values())
    record_bytes = plan["record_bytes"] or 0
    lines = [
        f"plan for {convert_options.input} -> {convert_options.output} (nothing was written):",
        f"  matched {to_convert + plan['failed'] + plan['skipped']} = to convert {to_convert} "
        f"+ rejected before decoding {plan['failed']} + skipped (not images) {plan['skipped']}"
        + (
            " (images that --min_size or --max_aspect_ratio reject are found only when converting: "
            "the plan reads no image but its sample)"
            if convert_options.min_size or convert_options.max_aspect_ratio
            else ""
        ),
        f"  classes: {len(plan['classes'])}"
        + (
            f" ({', '.join(plan['classes'][:MAX_CLASSES_SHOWN])}"
            + (
                f" and {len(plan['classes']) - MAX_CLASSES_SHOWN} more)"
                if len(plan["classes"]) > MAX_CLASSES_SHOWN
                else ")"
            )
            if plan["classes"]
            else ""
        ),
    ]
    for split in sorted(splits):
        counts = shards.get(split, [])
        per_class = ", ".join(f"{label} {n}" for label, n in sorted(splits[split].items())[:MAX_CLASSES_SHOWN])
        lines.append(
            f"  {split}: {sum(splits[split].values())} images ({per_class}) in "
            f"{counted(len(counts), 'shard')} of {_shard_counts(counts)} images"
        )
    if record_bytes:
        lines.append(
            f"  estimated output: {_megabytes(to_convert * record_bytes)} "
            f"({_megabytes(record_bytes)} per record, from a sample of converted images)"
        )
    else:
        lines.append("  estimated output: unknown (no image of the sample converted: see what a run's errors say)")
    lines += class_warning_lines(class_warnings(plan["classes"], splits))
    return "\n".join(lines)


def _shard_counts(counts):
    if len(counts) <= _SHARDS_SHOWN:
        return ", ".join(str(n) for n in counts)
    return f"{min(counts)} to {max(counts)}"


def _megabytes(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"
