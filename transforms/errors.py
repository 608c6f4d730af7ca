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


class WriteErrors(beam.PTransform):
    """Writes every error row as one JSON line of `<output>/errors.jsonl`.

    The rows are few, so they are sorted by path into a single file: two runs
    over the same input give the same errors file.
    """

    def __init__(self, output):
        super().__init__()
        self._output = output

    def expand(self, rows):
        return (
            rows
            | "ToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=True, ensure_ascii=False))
            | "Sort" >> beam.combiners.ToList()
            | "OnePerLine" >> beam.FlatMap(sorted)
            | "Write" >> beam.io.WriteToText(
                FileSystems.join(self._output, ERRORS_FILE), shard_name_template="", num_shards=1))
