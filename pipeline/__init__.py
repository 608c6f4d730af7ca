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


def console_main():
    """The `im2tfrecord` command and `python -m pipeline`. Beam's import takes
    seconds, so it happens here, inside the guard: Ctrl-C while the tool
    starts is one line and exit 130, as it is later."""
    try:
        from transforms import native_noise

        native_noise.quiet_libtiff()
        return main()
    except KeyboardInterrupt:
        print("im2tfrecord: error: interrupted by SIGINT while starting; nothing was written", file=sys.stderr)
        return 130
