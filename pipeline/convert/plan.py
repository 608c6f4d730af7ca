"""`--plan`: what a conversion would write, from the stages before decoding.

Listing, labels, splits and the shard plan depend on paths alone, so they run
as in a real conversion (the same transforms, the same seeded hashes) and the
plan is exactly what the run will do. Only the output's size is estimated,
from a seeded sample of 32 converted images (--shard_size_mb uses the same
estimate). Nothing is left in --output.

The plan runs where a run would, on the runner --runner names: planning 10
million paths is listing and shuffling work a cluster spreads over its
workers. Its one result, the plan document, comes back through a file: a
local temporary here, or, on another runner, a hidden temporary in --output
(where the launcher reads what workers write, as a run's files), removed
once read, with the local folder the worker made for it, if it made one.
"""

import contextlib
import json
import os
import tempfile

import apache_beam as beam

from pipeline import beam_compat
from pipeline.convert import failure_cause
from pipeline.convert import job
from pipeline.convert.options import ConvertOptions
from pipeline.convert.options import runs_locally
from transforms import skipped
from transforms.dataset_info import class_warnings
from transforms.dataset_warnings import CLASS_WARNINGS
from transforms.dataset_warnings import MAX_CLASSES_SHOWN
from transforms.dataset_warnings import counted
from transforms.dataset_warnings import summary_lines
from transforms.paths import is_s3
from transforms.paths import join
from transforms.storage import Storage
from transforms.storage import s3_settings
from transforms.storage import temporary_for

PLAN_FILE = "plan.json"  # The plan document's name (a temporary's, in --output).
# Shards listed one by one up to this many per split; past it, the range.
_SHARDS_SHOWN = 8


def run_plan(options, refusal=None, output=print):
    """Runs the planning stages on the runner named and prints the plan, with
    `refusal` (why a real run would refuse --output, from preflight), if any;
    returns 0."""
    store = Storage(s3_settings(options))
    with _plan_file(options, store) as path:
        with (
            failure_cause.refusals(),
            beam_compat.habits_contained(),
            beam.Pipeline(runner=beam_compat.local_runner(options), options=options) as p,
        ):
            job.build_plan(p, options, path)
        plan = json.loads(store.read(path))
    output(format_plan(plan, options.view_as(ConvertOptions)))
    if refusal:
        output(f"  note: a real run would stop here: {refusal}")
    return 0


@contextlib.contextmanager
def _plan_file(options, store):
    """Where the plan document is written: a local temporary for the local
    runner, else a hidden temporary in --output; removed afterwards, and a
    local --output folder that only the plan made (empty again) with it."""
    if runs_locally(options):
        with tempfile.TemporaryDirectory() as folder:
            yield os.path.join(folder, PLAN_FILE)
        return
    output = options.view_as(ConvertOptions).output
    made = not is_s3(output) and not os.path.exists(output)
    path = temporary_for(join(output, PLAN_FILE))
    try:
        yield path
    finally:
        store.delete([path])
        if made and os.path.isdir(output) and not os.listdir(output):
            os.rmdir(output)


def format_plan(plan, convert_options):
    splits = {}
    for split, label, count in plan["counts"]:
        splits.setdefault(split, {})[label] = count
    shards = {}
    for split, _, count in plan["shards"]:
        shards.setdefault(split, []).append(count)
    to_convert = sum(sum(split.values()) for split in splits.values())
    record_bytes = plan["record_bytes"] or 0
    skipped_files = skipped.count(plan["skipped"])
    lines = [
        f"plan for {convert_options.input} -> {convert_options.output} (nothing was written):",
        f"  matched {to_convert + plan['failed'] + skipped_files} = to convert {to_convert} "
        f"+ rejected before decoding {plan['failed']} + skipped (not images, or hidden) {skipped_files}"
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
    lines += filter(None, [skipped.summary_line(plan["skipped"])])
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
    lines += summary_lines(class_warnings(plan["classes"], splits), CLASS_WARNINGS)
    return "\n".join(lines)


def _shard_counts(counts):
    if len(counts) <= _SHARDS_SHOWN:
        return ", ".join(str(n) for n in counts)
    return f"{min(counts)} to {max(counts)}"


def _megabytes(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"
