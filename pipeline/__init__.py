"""im2tfrecord's commands and the reader `pipeline.read`.

  convert/      im2tfrecord [convert] --input PATH --output PATH   (the default)
  upload/       im2tfrecord upload LOCAL_DIR s3://bucket/prefix
  inspection/   im2tfrecord inspect PREFIX
  command.py    what the three share: main skeleton, exit codes, S3 flags
  progress.py   the progress line all three print
  read.py       reading a dataset back for training (imports no Beam)

Kept free of heavy imports: a training job imports `pipeline.read`, and the
console entry point below must start before Beam's import.
"""

import gc
import importlib
import logging
import sys
import time

__version__ = "0.1.0"

# Command name -> module whose main(argv) runs it. Conversion needs no word
# of its own (`im2tfrecord --input ...`), but `convert` is accepted too.
_COMMANDS = {
    "convert": "pipeline.convert.main",
    "upload": "pipeline.upload.main",
    "inspect": "pipeline.inspection.main",
}
_DEFAULT_COMMAND = "convert"


# --runner values that mean Beam's in-process runner (convert/options.py's
# runs_locally): Beam 2.77's DirectRunner would first try to
# download its Prism runner, which offline wastes time or hangs, so the tool
# runs the FnApiRunner, which the DirectRunner uses for batch jobs.
LOCAL_RUNNER_NAMES = (None, "direct", "directrunner", "fnapirunner")

# Modules Beam imports whenever they are installed, for what a conversion on
# the local runner never uses: pandas (Beam's DataFrame API) and Google Cloud
# clients (GCS, Dataflow, BigQuery, Pub/Sub). Measured here: 0.4 to 0.6 s of
# a 2.5 s start-up, 650 of Beam's 2,400 modules. For such a run they are
# blocked before Beam loads (an import of them raises ImportError, as for a
# module that is not installed, which Beam expects of each of them).
_NOT_NEEDED_LOCALLY = (
    "pandas",
    "google.cloud.storage",
    "google.cloud.dataflow",
    "google.cloud.dataflow_v1beta3",
    "google.cloud.bigquery",
    "google.cloud.bigquery_storage_v1",
    "google.cloud.pubsub",
    "google.cloud.pubsub_v1",
)


def main(argv=None):
    """Runs `im2tfrecord [COMMAND] ARGS...`; returns the exit code."""
    name, argv = _command(argv)
    return importlib.import_module(_COMMANDS[name]).main(argv)


def _command(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _COMMANDS:
        return argv[0], argv[1:]
    return _DEFAULT_COMMAND, argv


def _block_unneeded_imports(argv):
    """Blocks _NOT_NEEDED_LOCALLY for a conversion on the local runner that
    names no gs:// path, and _NOT_NEEDED_WITHOUT_S3 too if it names no s3://
    path; returns the names it blocked."""
    name, argv = _command(argv)
    if name != "convert" or any("gs://" in arg for arg in argv) or _runner(argv) not in LOCAL_RUNNER_NAMES:
        return []
    if any("s3://" in arg.lower() for arg in argv):
        return block_unneeded_imports()
    return block_unneeded_imports(_NOT_NEEDED_LOCALLY + _NOT_NEEDED_WITHOUT_S3)


# Beam's S3 filesystem, which Beam imports whenever boto3 is installed, and
# through it boto3 (this project's own S3 client imports it on first use:
# transforms/storage.py): about 0.35 s of the start-up of a local run that
# names no s3:// path, blocked as _NOT_NEEDED_LOCALLY are. Not boto3 itself:
# a local manifest may list s3:// images, which transforms/storage.py reads.
_NOT_NEEDED_WITHOUT_S3 = ("apache_beam.io.aws",)


def block_unneeded_imports(modules=None):
    """Blocks `modules` (default: _NOT_NEEDED_LOCALLY) for this process (a
    local conversion, or a Flink or Spark SDK worker of a job that names no
    gs:// path: runners/emr/sdk_worker.py); returns the names it blocked."""
    modules = _NOT_NEEDED_LOCALLY if modules is None else modules
    blocked = [module for module in modules if module not in sys.modules]
    for module in blocked:
        sys.modules[module] = None
    return blocked


# What Beam logs, on its import, where google-apitools is not installed (the
# converter's own dependencies do not bring it; the test tools do): a
# warning about BigQuery's clients, which the converter never uses, on every
# run. Dropped from the root logger Beam logs it on, before Beam is imported;
# any other record passes (tests/test_startup.py).
_BEAMS_APITOOLS_WARNING = "apitools not found, and bigquery client libraries are not available"


def _drop_beams_apitools_warning():
    logging.getLogger().addFilter(lambda record: not record.getMessage().startswith(_BEAMS_APITOOLS_WARNING))


def _unblock(blocked):
    """Undoes _block_unneeded_imports and forgets a Beam import that failed
    for want of one of them, so the next import starts afresh."""
    for module in blocked:
        if sys.modules.get(module, 0) is None:
            del sys.modules[module]
    kept = ("pipeline", "transforms", "transforms.native_noise")  # Its filter is already installed.
    for module in [m for m in sys.modules if m.split(".")[0] in ("apache_beam", "pipeline", "transforms")]:
        if module not in kept:
            del sys.modules[module]


def _runner(argv):
    for i, arg in enumerate(argv):
        if arg == "--runner" and i + 1 < len(argv):
            return argv[i + 1].lower()
        if arg.startswith("--runner="):
            return arg.split("=", 1)[1].lower()
    return None


# Whether console_main turned the cyclic garbage collector off for start-up.
_collector_paused = False
# When console_main began (time.monotonic()): a summary's time counts from
# there, Beam's import included, as a user timing the command does.
_command_started = None


def console_main():
    """The `im2tfrecord` command and `python -m pipeline`. Beam's import takes
    seconds, so it happens here, inside the guard: Ctrl-C while the tool
    starts is one line and exit 130, as it is later.

    Start-up (Beam's 2,500 modules, then the pipeline's construction) makes
    millions of long-lived objects and little garbage, and the cyclic
    collector would walk them all, again and again: about a third of a
    10-image run's CPU time, and as much again tearing them down at exit. So
    it is off until `start_up_done()`, which the commands call before their
    real work."""
    global _collector_paused, _command_started
    _command_started = time.monotonic()
    if gc.isenabled():
        gc.disable()
        _collector_paused = True
    try:
        from transforms import native_noise

        native_noise.quiet_libtiff()
        _drop_beams_apitools_warning()
        blocked = _block_unneeded_imports(None)
        try:
            name, argv = _command(None)
            command = importlib.import_module(_COMMANDS[name])
        except ImportError:
            if not blocked:
                raise
            _unblock(blocked)  # A Beam that needs one of them after all: import as usual.
            command = importlib.import_module(_COMMANDS[name])
        return command.main(argv)
    except KeyboardInterrupt:
        print("im2tfrecord: error: interrupted by SIGINT while starting; nothing was written", file=sys.stderr)
        return 130
    finally:
        start_up_done()
        _command_started = None


def command_started():
    """When this command began: console_main's start, or now for a caller
    of a command's `main` (tests), whose start-up is its own."""
    return _command_started if _command_started is not None else time.monotonic()


def start_up_done():
    """Turns the collector back on if console_main paused it. What start-up
    made is frozen first (kept out of every later collection: it lives to the
    end anyway), so the work's collections only look at what the work makes.
    Idempotent; does nothing when the collector was not paused (tests, a
    caller of `main`)."""
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()
