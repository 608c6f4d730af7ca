"""`im2tfrecord [convert] --input PATH --output PATH`: parse, check, run, summarise.

Exit codes: 0 done, 1 the job failed (or wrote no image), 2 a wrong
invocation (nothing was run), 130 Ctrl-C, 143 SIGTERM.
"""

import logging
import os
import shutil
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from pipeline import __version__
from pipeline import beam_compat
from pipeline import command
from pipeline import command_started
from pipeline import progress
from pipeline import read
from pipeline import start_up_done
from pipeline.convert import earlier_jobs
from pipeline.convert import failure_cause
from pipeline.convert import job
from pipeline.convert import plan
from pipeline.convert import summary
from pipeline.convert.options import ConvertOptions
from pipeline.convert.options import refuse_dry_run
from pipeline.convert.options import runs_locally
from pipeline.convert.preflight import check
from transforms import metrics
from transforms import ownership
from transforms import progress_records
from transforms import resume
from transforms.layout import DATASET_INFO_FILE
from transforms.metrics import METRICS_NAMESPACE
from transforms.metrics import REUSED_IMAGES
from transforms.metrics import REUSED_SHARDS
from transforms.paths import has_scheme
from transforms.paths import is_s3
from transforms.storage import Storage
from transforms.storage import s3_settings
from transforms.storage import split_s3_path

_PROG = "im2tfrecord"
_USAGE = (
    "%(prog)s [convert] --input PATH --output PATH [options]\n       %(prog)s {upload,inspect} ... (see their --help)"
)
_DESCRIPTION = """\
Convert labelled image folders into sharded TFRecord files of tf.train.Example.

Images are read from <input>/<label>/<image> (local folder or s3:// prefix);
the parent folder of each image is its class. Each image is decoded, turned
upright, converted to 8-bit RGB (or grayscale), resized and re-encoded. The
output folder receives <split>-SSSSS-of-NNNNN.tfrecord shards, labels.txt
(line N is the class of label N), errors.jsonl (one row per rejected file)
and, last, dataset_info.json (counts, shards, checksums, settings). With
--format recordio the shards are MXNet RecordIO (.rec, .idx, .lst) instead.
"""
_EPILOG = """\
examples:
  im2tfrecord --input ./photos --output ./shards --num_shards 8
  im2tfrecord --input s3://bucket/photos --output s3://bucket/shards \\
      --image_size 224 --resize_mode center_crop --s3_region_name eu-west-1

Without --runner (or with DirectRunner, whatever Beam's --runner help says),
the job runs here on Beam's in-process runner (never Prism), one process per core.
--help shows the Beam options a user of this tool sets; --help_all shows all;
--version prints the version.

exit codes: 0 done; 1 the job failed, or wrote no image; 2 a wrong invocation
(nothing was run); 130 Ctrl-C, 143 SIGTERM (rerun to go on).

other commands (each has its own --help):
  im2tfrecord upload LOCAL_DIR s3://bucket/prefix   copy an image tree to S3
  im2tfrecord inspect PREFIX                        counts, checks, contact sheet
"""

# The Beam option groups `--help` shows: what a user of this tool sets (where
# it runs, S3, Flink/Spark and their workers; not DirectOptions: local runs
# use --processes, not Beam's direct runner's workers). `--help_all` shows
# all of them (GCP, Azure, Dataflow test options, ...); every one is accepted
# either way.
_HELP_GROUPS = (
    "StandardOptions",
    "S3Options",
    "PortableOptions",
    "JobServerOptions",
    "FlinkRunnerOptions",
    "SparkRunnerOptions",
)

# Beam's runners log a failed bundle's traceback at ERROR before the job
# fails; the job's failure is then reported in one line.
_BEAM_RUNNER_LOGGERS = ("apache_beam.runners",)
# Logs every start and stop of a job server's Java process at WARNING, the
# stop from an exit handler, after the command's own logging set-up is gone.
_JOB_SERVER_LOGGER = "apache_beam.utils.subprocess_server"


def main(argv):
    """Runs a conversion with `argv` (the arguments after `convert`, if
    given); returns the exit code."""
    return command.main(_PROG, list(argv), _parse_invocation)


def _parse_invocation(argv):
    if argv == ["--version"]:
        print(f"{_PROG} {__version__}")
        return 0
    if "--help_all" in argv:
        _parser().print_help()
        return 0
    if command.wants_help(argv):
        _parser(_HELP_GROUPS).print_help()
        return 0
    options = _parse(_parser(), argv)
    log_level = options.view_as(ConvertOptions).log_level
    if logging.getLevelName(log_level) != logging.DEBUG:
        logging.getLogger(_JOB_SERVER_LOGGER).setLevel(logging.ERROR)
    return command.Invocation(
        lambda: _check_and_run(options),
        log_level,
        tuple(command.secrets_of(s3_settings(options))),
        quiet=_BEAM_RUNNER_LOGGERS,
        failed="the job failed",
        starts_up=True,
    )


def _check_and_run(options):
    checked = check(options)
    _make_local_paths_absolute(options.view_as(ConvertOptions))
    if earlier_jobs.on_flink(options):
        earlier_jobs.name_job(options, options.view_as(ConvertOptions).output)
    if options.view_as(ConvertOptions).plan:
        start_up_done()
        return plan.run_plan(options, checked.refusal)
    return _run(options, checked.output)


def _make_local_paths_absolute(convert):
    """Workers on a Flink or Spark cluster run in folders of their own, where
    a relative path names nothing: local paths are resolved here, once."""
    for name in ("input", "output", "labels_file", "manifest"):
        path = getattr(convert, name)
        if path and not has_scheme(path):
            setattr(convert, name, os.path.abspath(path))


def _run(options, output):
    convert_options = options.view_as(ConvertOptions)
    start = command_started()  # Beam's import included (README, "Quick start").
    storage = Storage(s3_settings(options))
    if earlier_jobs.on_flink(options):
        earlier_jobs.cancel_earlier_jobs(options, convert_options.output)
    # Written before anything else: marks every file here as this run's. On
    # S3 it is also the write probe: a bucket we may not write to fails here,
    # in a second, not after all the decoding.
    _claim_output(storage, convert_options.output, output.owned)
    # Another part's shards may be uploading into this output (parts.py):
    # leftover uploads are the finishing run's to abort.
    part = convert_options.part()
    if output.killed_run and is_s3(convert_options.output) and not part:
        ownership.abort_leftover_uploads(storage, convert_options.output)
    if convert_options.overwrite:
        # From here until the new dataset_info.json is written, the output
        # does not claim to be a complete dataset.
        storage.delete([FileSystems.join(convert_options.output, DATASET_INFO_FILE)])
    metrics.reset()
    # What an earlier run or part left to resume, for the summary to say what was not.
    recorded = sum(1 for name in storage.list_folder(convert_options.output) if resume.is_done_record(name))
    # An earlier run's progress records would count as this job's.
    _remove_progress_records(storage, convert_options.output)
    job_progress = None if runs_locally(options) else _JobProgress(storage, convert_options.output)
    with (
        progress.Progress("converting", job_progress or _converted, rate_from_first_reading=bool(job_progress)) as line,
        beam_compat.habits_contained(),
    ):
        pipeline = beam.Pipeline(runner=beam_compat.local_runner(options), options=options)
        try:
            job.build(pipeline, options)
            start_up_done()
            with failure_cause.refusals(), job.shard_processes_started_early(options):
                result = pipeline.run()  # The local runner runs the job here.
            try:
                with failure_cause.refusals():
                    result.wait_until_finish()
            except command.UsageError:
                _cancel(result)
                raise
            except Exception as e:
                if runs_locally(options):  # Its own error line is the cause's already.
                    raise
                _cancel(result)
                raise command.Explained(_failure_line(options, e)) from e
            except BaseException:
                # Ctrl-C, SIGTERM: a job on a Flink cluster outlives its client,
                # and would go on writing while the user reruns.
                _cancel(result)
                raise
            if job_progress is not None:
                job_progress.refresh()
            line.report_last()
        finally:  # Beam removes it only once run() is reached: not on an early Ctrl-C.
            shutil.rmtree(pipeline.local_tempdir, ignore_errors=True)
            _remove_progress_records(storage, convert_options.output)
    seconds = time.monotonic() - start
    if part:  # Its marker stays: the output is an unfinished run's until the finishing run.
        completed = resume.completed(storage, convert_options.output)
        command.print_report(summary.format_part_summary(part, completed, convert_options.output, seconds))
        return 0
    if is_s3(convert_options.output):
        # A worker that died mid-shard (its shard written again by a retry)
        # left the upload it had begun: invisible, but billed until aborted.
        # Quietly where the store does not list them: the note is for a
        # killed run's leftovers, above.
        ownership.abort_leftover_uploads(storage, convert_options.output, note=False)
    ownership.remove_marker(storage, convert_options.output)
    info = read.read_info(storage, convert_options.output)
    command.print_report(summary.format_summary(info, convert_options.output, seconds, _reused(result), recorded))
    if not info["counts"]["written"]:  # A dataset of nothing is no success.
        return command.fail(_PROG, f"no image was written: {_nothing_written(info)}", code=1)
    return 0


def _failure_line(options, error):
    """The line that says why a job on a cluster failed: the stage and the
    root cause, from the engine where it keeps them (failure_cause.py), else
    as the runner's message gives them."""
    stage, cause = failure_cause.from_text(str(error))
    if earlier_jobs.on_flink(options):
        try:
            stage, cause = failure_cause.flink_cause(options)
        except Exception:  # The cluster gone too: what the runner said must do.
            logging.getLogger(_PROG).debug("reading the Flink job's exceptions", exc_info=True)
    return failure_cause.explain(stage, cause) if cause else command.headline(error)


def _converted():
    """Files converted of those matched so far, from the in-process counters
    (transforms/metrics.py), which the local runner's stages count into."""
    matched, finished = metrics.snapshot()
    return progress.Reading(finished, matched, "files") if matched else None


class _JobProgress:
    """Files converted of those planned into shards so far, on a remote
    runner: from the progress records its workers leave in --output
    (transforms/progress_records.py); no line before the first is there."""

    def __init__(self, storage, output):
        self._reader = progress_records.ProgressReader(storage, output)

    def __call__(self):
        found = self._reader.read()
        return progress.Reading(found.finished, found.planned, "files") if found else None

    def refresh(self):
        """Reads the records now, not at the next poll: the job has ended."""
        self._reader.read(fresh=True)


def _remove_progress_records(storage, output):
    """Before the job and after it, whatever its end: the records are never
    part of a dataset."""
    try:
        progress_records.remove_records(storage, output)
    except Exception:  # Hidden and harmless; the next run removes them first.
        logging.getLogger(_PROG).debug("removing progress records", exc_info=True)


def _nothing_written(info):
    failed = info["counts"]["failed"]
    if failed:
        return f"all {failed} failed (one row each in {info['errors']['file']})"
    return "the input holds no image files"


def _reused(result):
    """(shards, images) this run reused from an interrupted one, from the job's
    counters; None where the runner reports none."""
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    except Exception:  # Not every runner serves metrics; the summary then says nothing.
        return None
    totals = {}
    for counter in counters:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    return totals.get(REUSED_SHARDS, 0), totals.get(REUSED_IMAGES, 0)


def _cancel(result):
    try:
        result.cancel()
    except Exception:  # Already failed or finished, or the local runner: nothing to stop.
        logging.getLogger(_PROG).debug("cancelling the job", exc_info=True)


def _claim_output(storage, output, owned):
    bucket = split_s3_path(output.rstrip("/") + "/")[0] if is_s3(output) else None
    command.s3_call(lambda: ownership.write_marker(storage, output, owned), "--output", bucket)


def _parser(groups=None):
    """Our options first, then Beam's option groups (those named in `groups`,
    or all of them), as one parser."""
    parser = command.new_parser(_PROG, _USAGE, _DESCRIPTION, _EPILOG)
    beam_compat.add_option_flags(parser.add_argument_group("conversion options"), ConvertOptions)
    for cls in beam_compat.option_classes():
        if cls in (ConvertOptions, beam_compat.ViewsOnce) or (groups is not None and cls.__name__ not in groups):
            continue
        beam_compat.add_option_flags(parser.add_argument_group(f"Beam {cls.__name__}"), cls)
    return parser


def _parse(parser, argv):
    """PipelineOptions from argv; unknown flags are errors, not silently dropped."""
    refuse_dry_run(argv)
    _, unknown = parser.parse_known_args(argv)
    command.reject_unknown(parser, unknown)
    options = beam_compat.ViewsOnce(argv)
    options.view_as(ConvertOptions).validate()
    return options
