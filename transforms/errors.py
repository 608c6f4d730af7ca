"""Error rows: every input that does not become a record says why, here.

A stage that rejects an input emits an error row on its `ERRORS` output
instead of raising, so one bad file never fails the job and never disappears.
The last step (`dataset_info.Finalize`) writes the rows of all stages into
`errors.jsonl`. The rows are held in one place: fine for the thousands of
errors of a bad crawl, not meant for a dataset where most of millions fail.
"""

import json

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms import metrics

ERRORS = "errors"  # Tag of the error output of every stage that can reject.


def error_row(path, stage, reason, message):
    """A tagged error output; also counts the failure by reason."""
    Metrics.counter(metrics.METRICS_NAMESPACE, metrics.failed_counter_name(reason)).inc()
    metrics.add_finished(1)
    row = {"path": path, "stage": stage, "reason": reason, "message": message}
    return beam.pvalue.TaggedOutput(ERRORS, row)


def errors_file_bytes(rows):
    """errors.jsonl: one sorted JSON line per row, so reruns give the same file."""
    lines = sorted(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows)
    return "".join(line + "\n" for line in lines).encode("utf-8")
