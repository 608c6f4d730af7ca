"""im2tfrecord's pipeline: options, composition of the stages, command line.

Kept free of heavy imports so that `transforms/` can use `pipeline.progress`.
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
