"""Why a job on a cluster failed, in one line: the stage and the root cause.

What Beam's portable runner reports of a failed job is the last message its
job server relayed, often a wrapper's ("java.lang.IllegalStateException:
call is closed") that names neither the stage nor the cause. The engine
knows both: Flink keeps every task failure of a job (its REST API's
/jobs/<id>/exceptions, with the task's name, which holds the Beam stage),
and what an SDK worker raised comes back as a Python traceback ending in
"[while running '<stage>']". This reads them, and makes the line a user
reads: "a worker ran out of memory in PlanShards/Deal
(java.lang.OutOfMemoryError: Direct buffer memory)".
"""

import contextlib
import re

from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.options.pipeline_options import GoogleCloudOptions

from pipeline import command
from pipeline.convert import earlier_jobs
from transforms.shard import ShardTooLargeError

_TRACEBACK = "Traceback (most recent call last):"
# "[while running 'Stage/Sub']" ends what Beam's SDK harness raised.
_WHILE_RUNNING = re.compile(r"\[while running '([^']+)'\]")
# A Python exception line: "module.Name: message" (or a bare "Name").
_PYTHON_ERROR = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")
# The last "Caused by: java.x.Y: message" of a Java stack trace is its root.
_JAVA_CAUSE = re.compile(
    r"^(?:Caused by: )?((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Error|Exception|Throwable))(?::\s*(.*))?$"
)
# Flink's task names, as its REST API gives them in batch mode:
# "MapPartition (MapPartition at [3]ReadManifest/GroupPath/{Route, Typed}) (2/2) - execution #0";
# the Beam stage is inside, after "at" and the operator's index.
_TASK_SUFFIX = re.compile(r"(\s*- execution #\d+|\s*\(\d+/\d+\)(#\d+)?)+$")
_TASK_OPERATOR = re.compile(r"^\w+ \(\w+ at (.*)\)$")
_TASK_PREFIX = re.compile(r"^\[\d+\]")


def explain(stage, cause):
    """The one line for a failure in `stage` (None: unknown) with `cause`."""
    where = f" in {stage}" if stage else ""
    if "OutOfMemoryError" in cause or "MemoryError" in cause.split(":")[0]:
        return f"a worker ran out of memory{where} ({cause})"
    return f"a worker failed{where} ({cause})"


@contextlib.contextmanager
def refusals():
    """Turns a job's refusal (below) into the one-line UsageError of a wrong
    invocation: exit 2, as if the options had been refused before the run."""
    try:
        yield
    except Exception as e:
        message = refusal(e)
        if message is None:
            raise
        raise command.UsageError(message) from None


def refusal(error):
    """The message of the ShardTooLargeError a job raised (a --num_shards
    too small for a split, found only once its images were counted),
    whether the error is it or a runner's text that ends in it; else None."""
    if isinstance(error, ShardTooLargeError):  # Beam adds the stage it ran in.
        return _WHILE_RUNNING.sub("", str(error)).strip()
    _, cause = from_text(str(error))
    name = ShardTooLargeError.__name__ + ": "
    return cause.removeprefix(name) if cause and cause.startswith(name) else None


def from_text(text):
    """(stage, cause) from an error's text: the stage of a Python worker's
    "[while running ...]", and the exception line that ends its traceback;
    without a Python traceback, the deepest cause of a Java stack trace;
    (None, None) when the text holds neither."""
    stages = _WHILE_RUNNING.findall(text)
    stage = stages[-1] if stages else None
    lines = text.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if line.rstrip().endswith(_TRACEBACK)]
    if tracebacks:
        for line in lines[tracebacks[-1] + 1 :]:  # The first unindented line after the frames.
            if line.strip() and not line[0].isspace() and _PYTHON_ERROR.match(_WHILE_RUNNING.sub("", line).strip()):
                return stage, _short(_WHILE_RUNNING.sub("", line).strip())
    causes = [line.strip() for line in lines if _JAVA_CAUSE.match(line.strip())]
    if causes:
        return stage, causes[-1].removeprefix("Caused by: ")
    return stage, None


def _short(line):
    """'transforms.manifest.ManifestLabelsError: x' -> 'ManifestLabelsError: x'."""
    name, _, message = line.partition(":")
    return name.rsplit(".", 1)[-1] + (f":{message}" if message else "")


def flink_cause(options):
    """(stage, cause) of the run's Flink job, from the cluster's record of its
    task failures; (None, None) if there is none to read."""
    base = earlier_jobs.rest_base(options.view_as(FlinkRunnerOptions).flink_master)
    name = options.view_as(GoogleCloudOptions).job_name
    jobs = [job for job in earlier_jobs.get(f"{base}/jobs/overview").get("jobs", []) if job.get("name") == name]
    if not jobs:
        return None, None
    job = max(jobs, key=lambda job: job.get("start-time", 0))
    exceptions = earlier_jobs.get(f"{base}/jobs/{job['jid']}/exceptions?maxExceptions=20")
    entries = (exceptions.get("exceptionHistory") or {}).get("entries") or []
    # The last failure is the one the job ended on: earlier ones may have been
    # outlived by a restart (a task short of network buffers at first, say).
    for entry in sorted(entries, key=lambda entry: entry.get("timestamp", 0), reverse=True):
        stage, cause = from_text(entry.get("stacktrace", ""))
        if cause:
            return stage or _task_stage(entry.get("taskName")), cause
    stage, cause = from_text(exceptions.get("root-exception") or "")
    return stage, cause


def _task_stage(task):
    """A Beam stage's name from a Flink task's (_TASK_SUFFIX's example gives
    "ReadManifest/GroupPath/{Route, Typed}")."""
    if not task:
        return None
    name = _TASK_SUFFIX.sub("", task.strip())
    operator = _TASK_OPERATOR.match(name)
    return _TASK_PREFIX.sub("", operator.group(1) if operator else name).strip() or None
