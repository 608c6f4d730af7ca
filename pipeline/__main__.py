"""`python -m pipeline` runs the same command line as `im2tfrecord`."""

import sys

from pipeline import console_main

sys.exit(console_main())
