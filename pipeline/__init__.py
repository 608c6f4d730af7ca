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
import sys

__version__ = "0.1.0"

# Command name -> module whose main(argv) runs it. Conversion needs no word
# of its own (`im2tfrecord --input ...`), but `convert` is accepted too.
_COMMANDS = {
    "convert": "pipeline.convert.main",
    "upload": "pipeline.upload.main",
    "inspect": "pipeline.inspection.main",
}
_DEFAULT_COMMAND = "convert"


def main(argv=None):
    """Runs `im2tfrecord [COMMAND] ARGS...`; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _DEFAULT_COMMAND
    if argv and argv[0] in _COMMANDS:
        name, argv = argv[0], argv[1:]
    return importlib.import_module(_COMMANDS[name]).main(argv)


# Whether console_main turned the cyclic garbage collector off for start-up.
_collector_paused = False


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
    global _collector_paused
    if gc.isenabled():
        gc.disable()
        _collector_paused = True
    try:
        from transforms import native_noise

        native_noise.quiet_libtiff()
        return main()
    except KeyboardInterrupt:
        print("im2tfrecord: error: interrupted by SIGINT while starting; nothing was written", file=sys.stderr)
        return 130
    finally:
        start_up_done()


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
