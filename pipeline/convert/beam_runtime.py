"""How the converter runs Beam: which runner, and three of Beam's habits
that would cost a user time or noise, each contained to the run. Every use
of Beam's internals (private names, patches) is here, each with its
measured reason; tests/test_beam_runtime.py fails by name when an upgrade of
Beam changes what one relies on.

- `local_runner`: Beam's in-process FnApiRunner for a local run (never the
  DirectRunner, which first tries to download Prism: pipeline.LOCAL_RUNNER_NAMES).
- `quiet_worker_shutdown`: LOOPBACK workers' hung-up streams, at DEBUG.
- `dofn_specs_remembered`: a DoFn's state and timer specs looked up once
  per kind of DoFn.
- `prompt_bundle_ends`: each bundle's end waits at most a few ms for Beam's
  state sampler thread, not up to 200 ms.
"""

import contextlib
import logging
import threading
import types

import grpc

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
