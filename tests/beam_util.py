"""Runs small Beam pipelines in tests on the in-process runner (no Prism)."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner


def local_pipeline(flags=()):
    return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(list(flags)))
