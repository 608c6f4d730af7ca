"""Error rows: every input that does not become a record says why, here.

A stage that rejects an input emits an error row on its `ERRORS` output
instead of raising, so one bad file never fails the job and never disappears.
`WriteErrors` collects the rows of all stages into `errors.jsonl`.
"""

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import progress
from transforms.storage import WriteWholeFile

# Namespace of every Beam metric the pipeline reports (see pipeline/summary.py).
METRICS_NAMESPACE = "im2tfrecord"
ERRORS = "errors"  # Tag of the error output of every stage that can reject.
ERRORS_FILE = "errors.jsonl"


def failed_counter_name(reason):
    return f"failed/{reason}"


def error_row(path, stage, reason, message):
    """A tagged error output; also counts the failure by reason."""
    Metrics.counter(METRICS_NAMESPACE, failed_counter_name(reason)).inc()
    progress.add_finished(1)
    row = {"path": path, "stage": stage, "reason": reason, "message": message}
    return beam.pvalue.TaggedOutput(ERRORS, row)


def _json_lines(rows):
    lines = sorted(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows)
    return "".join(line + "\n" for line in lines).encode("utf-8")


class WriteErrors(beam.PTransform):
    """Writes every error row as one JSON line of `<output>/errors.jsonl`.

    Rows are sorted, so two runs over the same input give the same file. The
    whole file is built in one place: fine for the thousands of errors of a
    bad crawl, not meant for a dataset where most of millions of files fail.
    """

    def __init__(self, output, s3_client_settings):
        super().__init__()
        self._output = output
        self._s3_client_settings = s3_client_settings

    def expand(self, rows):
        return (
            rows
            | "AllRows" >> beam.combiners.ToList()
            | "JsonLines" >> beam.Map(_json_lines)
            | "Write" >> beam.ParDo(WriteWholeFile(
                FileSystems.join(self._output, ERRORS_FILE), self._s3_client_settings)))
