"""How the converter runs Beam: which runner, and two of Beam's habits
that would cost a user time or noise, each contained to the run.

- `local_runner`: Beam's in-process FnApiRunner for a local run (never the
  DirectRunner, which first tries to download Prism: pipeline.LOCAL_RUNNER_NAMES).
- `quiet_worker_shutdown`: LOOPBACK workers' hung-up streams, at DEBUG.
- `dofn_specs_remembered`: a DoFn's state and timer specs looked up once.
"""

import contextlib
import logging
import threading

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
    it has) answers once per DoFn: Beam asks four times for each of the
    pipeline's 66 DoFns as it builds, translates and runs it, a third of a
    second of `inspect.signature`. A DoFn's methods do not change once it is
    made; each caller gets its own copy of the sets."""
    from apache_beam.transforms import userstate

    original = userstate.get_dofn_specs
    known = {}  # id -> (the DoFn, kept alive so its id is not reused; its specs)

    def get_dofn_specs(dofn):
        entry = known.get(id(dofn))
        if entry is None or entry[0] is not dofn:
            entry = known[id(dofn)] = (dofn, original(dofn))
        states, timers = entry[1]
        return set(states), set(timers)

    userstate.get_dofn_specs = get_dofn_specs
    try:
        yield
    finally:
        userstate.get_dofn_specs = original


def local_runner(options):
    if runs_locally(options):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return None  # Beam builds the named runner from the options.
