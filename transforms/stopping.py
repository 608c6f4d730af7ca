"""A stop the user asked for (Ctrl-C, SIGTERM), heard by work that the
launcher's KeyboardInterrupt does not reach.

The command line turns SIGINT and SIGTERM into a KeyboardInterrupt in the
main thread (pipeline/command.py). Shards are written in other threads and
processes, and Python waits for its threads at exit: without this, a first
Ctrl-C let every shard being written run to its end (minutes, for a big
shard) before the process exited. `request()` sets a flag that shard writers
check between images (they then drop their unfinished file and raise
`Stopped`) and calls what registered with `on_stop` (shard processes are
told to stop the same way).
"""

import threading

_requested = threading.Event()
_callbacks = []
_lock = threading.Lock()


class Stopped(Exception):
    """The work was stopped by a signal before it was done."""


def request():
    """Asks every writer in this process to stop; safe in a signal handler."""
    _requested.set()
    with _lock:
        callbacks = list(_callbacks)
    for callback in callbacks:
        callback()


def requested():
    return _requested.is_set()


def check():
    """Raises Stopped if a stop was asked for."""
    if _requested.is_set():
        raise Stopped("stopped by a signal")


def on_stop(callback):
    """Calls `callback()` when a stop is asked for; returns what unregisters it."""
    with _lock:
        _callbacks.append(callback)

    def unregister():
        with _lock:
            if callback in _callbacks:
                _callbacks.remove(callback)

    return unregister


def reset():
    """For a new command in the same process (tests)."""
    _requested.clear()
