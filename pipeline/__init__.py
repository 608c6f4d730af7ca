"""im2tfrecord's commands (convert, upload, inspect) and the reader `pipeline.read`.

Kept free of heavy imports: a training job imports `pipeline.read`, and the
console entry point below must start before Beam's import.
"""

__version__ = "0.1.0"


def console_main():
    """The `im2tfrecord` command and `python -m pipeline`. Beam's import takes
    seconds, so it happens here, inside the guard: Ctrl-C while the tool
    starts is one line and exit 130, as it is later."""
    import sys
    try:
        from pipeline import cli
        return cli.console_main()
    except KeyboardInterrupt:
        print("im2tfrecord: error: interrupted by SIGINT while starting; nothing was written",
              file=sys.stderr)
        return 130
