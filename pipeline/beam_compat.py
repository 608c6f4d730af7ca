"""Every use of Beam's internals (private names, patches, habits relied on),
each with its measured reason. tests/test_beam_compat.py checks each: that
the internal is still there in the shape relied on (one line naming it, and
this module's name for it, when a Beam upgrade changes it), and that each
still takes effect and leaves Beam's answers as they were.

Runner:
- `local_runner`: Beam's in-process FnApiRunner (from its internal module
  path) for a local run, never the DirectRunner, which first tries to
  download Prism (pipeline.LOCAL_RUNNER_NAMES).

A run's habits, contained to the run (`habits_contained`):
- `quiet_worker_shutdown`: LOOPBACK workers' hung-up streams, at DEBUG.
- `dofn_specs_remembered`: `userstate.get_dofn_specs` patched: a DoFn's
  state and timer specs looked up once per kind of DoFn (a third of a
  second of `inspect.signature` a run).
- `prompt_bundle_ends`: `statesampler.StateSampler` subclassed: each
  bundle's end waits at most a few ms for Beam's sampler thread, not up to
  200 ms (0.59 s of a 10,000-image run).

Options (the converter's parser, pipeline/convert/main.py):
- `add_option_flags`: an options class's flags added to an argparse group
  through Beam's private `_add_argparse_args`, so that one parser lists and
  checks ours and Beam's.
- `option_classes`: Beam's option groups, as `PipelineOptions.__subclasses__()`.
- `ViewsOnce`: `PipelineOptions.view_as` made once per class (hundreds of
  argparse parsers, a fifth of a second, for a pipeline of ours).

Imports (pipeline/__init__.py, which must act before Beam is imported and so
cannot import this module): Beam's optional imports (pandas, Google Cloud
clients, its S3 filesystem) are blocked in `sys.modules` for a local run,
relying on Beam importing each under `try`/`except ImportError` (0.4 to
0.75 s of start-up); and the warning Beam logs on its import where
google-apitools is missing (BigQuery's clients, never used here) is
dropped. tests/test_startup.py checks both.
"""

import contextlib
import logging
import threading
import types

import grpc
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.convert.options import runs_locally

_HUNG_UP = (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)


@contextlib.contextmanager
def quiet_worker_shutdown():
    """With LOOPBACK workers on Flink or Spark, the runner hangs up the data,
    state and control streams when a job ends, and each worker thread then
    dies of that call (CANCELLED, or UNAVAILABLE when the socket is closed),
    a traceback apiece on stderr. Those are logged at DEBUG; any other
    thread's failure is still printed. A job that really fails says so
    through the job service, in one line."""
    original = threading.excepthook

    def hook(args):
        error = args.exc_value
        if isinstance(error, grpc.RpcError) and error.code() in _HUNG_UP:
            logging.getLogger("im2tfrecord").debug("worker thread %s ended: %s", args.thread.name, error)
        else:
            original(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = original


@contextlib.contextmanager
def dofn_specs_remembered():
    """While the pipeline is built and run, Beam's `get_dofn_specs` (a DoFn's
    state and timer specs, found by inspecting the signature of every method
    it has) answers once per kind of DoFn: Beam asks for each DoFn as it
    builds and translates the pipeline, and again for each fresh copy every
    bundle unpickles as it runs (about 600 asks a run, 5,978 signatures, a
    third of a second of `inspect.signature`). The specs are the defaults of
    the methods, so a DoFn's kind is its class and the functions of the
    methods set on the instance itself (a wrapped callable's `process`).
    Not told apart: Beam's wrappers that forward lookups to an inner DoFn
    (those of `with_exception_handling`, timeouts, subprocesses), which this
    pipeline does not use. Each caller gets its own copy of the sets."""
    from apache_beam.transforms import userstate

    original = userstate.get_dofn_specs
    known = {}  # _dofn_kind -> (states, timers)

    def get_dofn_specs(dofn):
        kind = _dofn_kind(dofn)
        specs = known.get(kind)
        if specs is None:
            specs = known[kind] = original(dofn)
        states, timers = specs
        return set(states), set(timers)

    userstate.get_dofn_specs = get_dofn_specs
    try:
        yield
    finally:
        userstate.get_dofn_specs = original


def _dofn_kind(dofn):
    """What a DoFn's state and timer specs depend on: its class, and the
    function of each method set on the instance (kept: the key holds them,
    so their ids are not reused)."""
    own = tuple(
        (name, getattr(value, "__func__", value))
        for name, value in getattr(dofn, "__dict__", {}).items()
        if isinstance(value, types.MethodType)
    )
    return type(dofn), own


# The longest a state sampler sleeps between samples here, where Beam's is
# 200 ms: a bundle's end joins the sampler's thread, which finishes its sleep
# first (the C usleep cannot be woken). A local run has 41 bundles; the wait
# measured 0.59 s of a 10,000-image run (profiled), most of it on the
# planning bundles of a quarter to two seconds. At 5 ms the thread wakes
# 200 times a second without the GIL, about 1 us a wake.
_SAMPLING_PERIOD_MS = 5


@contextlib.contextmanager
def prompt_bundle_ends():
    """While the pipeline runs, each bundle's state sampler (the thread that
    times each step: Beam's msec metrics) samples at most every
    `_SAMPLING_PERIOD_MS`, so the bundle's end waits at most that long for
    it. Nothing here reads those times."""
    from apache_beam.runners.worker import statesampler

    original = statesampler.StateSampler

    class PromptStateSampler(original):
        def __init__(self, prefix, counter_factory, sampling_period_ms=_SAMPLING_PERIOD_MS):
            super().__init__(prefix, counter_factory, min(sampling_period_ms, _SAMPLING_PERIOD_MS))

    statesampler.StateSampler = PromptStateSampler
    try:
        yield
    finally:
        statesampler.StateSampler = original


@contextlib.contextmanager
def habits_contained():
    """All three of the above, for a run of the pipeline."""
    with quiet_worker_shutdown(), dofn_specs_remembered(), prompt_bundle_ends():
        yield


def local_runner(options):
    if runs_locally(options):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return None  # Beam builds the named runner from the options.


def add_option_flags(group, options_class):
    """Adds `options_class`'s flags to the argparse `group`. The group only
    lists and checks the flags; PipelineOptions parses their values,
    ValueProviders included, so a plain argument describes each."""
    group.add_value_provider_argument = group.add_argument
    options_class._add_argparse_args(group)


def option_classes():
    """Beam's options classes (and every other PipelineOptions subclass
    imported so far), each once, in the order they were defined."""
    return list({str(cls): cls for cls in PipelineOptions.__subclasses__()}.values())


class ViewsOnce(PipelineOptions):
    """Beam's PipelineOptions, but each view (`view_as(cls)`) is made once.

    A view is stateless: its values live in the dict all views share, which
    `view_as` fills with the defaults of `cls` the first time. But Beam makes
    a new one per call, building and running an argparse parser of `cls`'s
    flags each time, and it asks for a view several times per transform it
    applies (TypeOptions, StandardOptions, ...): hundreds of parsers, a fifth
    of a second, for a pipeline of ours. Adds no flags of its own."""

    def view_as(self, cls):
        views = self.__dict__.get("_views")
        if views is None:
            views = {}
            object.__setattr__(self, "_views", views)
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return view
