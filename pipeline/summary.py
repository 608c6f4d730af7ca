"""The end-of-run summary, read from the job's Beam metrics.

Counters (namespace "im2tfrecord"): matched, skipped, written, class/<label>
and failed/<reason>. Every matched file ends as exactly one of written,
failed or skipped, and the summary says whether the counts add up.
"""

import dataclasses

from apache_beam.metrics.metric import MetricsFilter

from transforms.errors import METRICS_NAMESPACE


@dataclasses.dataclass
class RunCounts:
    matched: int = 0
    skipped: int = 0
    written: int = 0
    per_class: dict = dataclasses.field(default_factory=dict)
    failed: dict = dataclasses.field(default_factory=dict)

    @property
    def failed_total(self):
        return sum(self.failed.values())

    @property
    def balanced(self):
        return self.matched == self.written + self.failed_total + self.skipped


def counts_from(result):
    """RunCounts from a finished PipelineResult, or None if it reports no metrics."""
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    except (NotImplementedError, AttributeError, KeyError):
        return None
    counts = RunCounts()
    for counter in counters:
        name = counter.key.metric.name
        value = counter.committed if counter.committed is not None else counter.attempted
        if name.startswith("class/"):
            label = name[len("class/"):]
            counts.per_class[label] = counts.per_class.get(label, 0) + value
        elif name.startswith("failed/"):
            reason = name[len("failed/"):]
            counts.failed[reason] = counts.failed.get(reason, 0) + value
        elif name in ("matched", "skipped", "written"):
            setattr(counts, name, getattr(counts, name) + value)
    return counts


def format_summary(counts, output, output_files, seconds):
    """Human-readable lines for the end of a run."""
    lines = []
    if counts is None:
        lines.append(f"done in {seconds:.1f} s (this runner reported no metrics)")
    else:
        rate = counts.written / seconds if seconds > 0 else 0.0
        lines.append(f"wrote {counts.written} images in {seconds:.1f} s ({rate:.1f} images/s)")
        check = "" if counts.balanced else "  << DOES NOT ADD UP: please report this"
        lines.append(f"  matched {counts.matched} = written {counts.written} + failed "
                     f"{counts.failed_total} + skipped (not images) {counts.skipped}{check}")
        if counts.per_class:
            lines.append("  per class: " + ", ".join(
                f"{label} {n}" for label, n in sorted(counts.per_class.items())))
        if counts.failed:
            lines.append("  errors: " + ", ".join(
                f"{reason} {n}" for reason, n in sorted(counts.failed.items()))
                + " (one row each in errors.jsonl)")
    lines.append(f"  output: {output}")
    lines.extend(f"    {name}" for name in output_files)
    return "\n".join(lines)
