"""Error rows: every input that does not become a record says why, here.

A stage that rejects an input emits an error row on its `ERRORS` output
instead of raising, so one bad file never fails the job and never disappears.
The last steps (`dataset_info.Finalize`) write the rows of all stages into
`errors.jsonl`, sorted in pieces (sorted_file.py) and counted by reason:
no worker holds every row.
"""

import json

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics
from transforms.sorted_lines import Line
from transforms.sorted_lines import file_bytes

ERRORS = "errors"  # Tag of the error output of every stage that can reject.


def error_row(path, stage, reason, message):
    """A tagged error output; also counts the failure by reason."""
    Metrics.counter(metrics.METRICS_NAMESPACE, metrics.failed_counter_name(reason)).inc()
    metrics.add_finished(1)
    row = {"path": path, "stage": stage, "reason": reason, "message": message}
    return beam.pvalue.TaggedOutput(ERRORS, row)


def file_line(row):
    """An error row's line of errors.jsonl, sorted by its text, so reruns
    give the same file (written by sorted_file.WriteSortedLines)."""
    text = json.dumps(row, sort_keys=True, ensure_ascii=False)
    return Line(key=text, text=text)


def errors_file_bytes(rows):
    """errors.jsonl of `rows`, in one piece (what the pieces add up to)."""
    return file_bytes(file_line(row) for row in rows)
