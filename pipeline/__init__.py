"""im2tfrecord's pipeline: options, composition of the stages, command line.

Kept free of heavy imports so that `transforms/` can use `pipeline.progress`.
"""

__version__ = "0.1.0"
