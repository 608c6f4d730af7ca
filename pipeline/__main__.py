"""`python -m pipeline` runs the same command line as `im2tfrecord`."""

import sys

from pipeline.cli import main

sys.exit(main())
