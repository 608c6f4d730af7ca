"""Shards written by processes of their own, each with its own GIL.

Beam's in-process runner runs every DoFn in the launcher's process. Pillow
releases the GIL while it decodes, resizes and encodes (about 81% of an
image's time), but the Python work between (ordering, Example framing,
crc32c, hashing, writing) does not, which caps one process at about 5 to 10
cores' worth of work. On 2 cores threads measured as fast as these
processes (docs/performance.md, "Performance"); they are for bigger machines. Here each
of N processes writes whole shards with the
same code (`ShardStreamWriter`). Only a shard's plan goes in (paths, labels,
order) and only its ShardInfo and failures come out: records never cross a
process boundary, so every byte is the one the worker's own process writes.

The processes are spawned (fresh interpreters that import no Beam: about
half a second to start, in parallel; a local run starts them while it plans:
`started_early`), so nothing they inherit depends on what the
launcher's threads held when they started. They ignore SIGINT (the launcher
handles it and stops them: transforms/stopping.py) and exit when the
launcher dies, even by SIGKILL. A process that dies itself (a decoder crash) fails the job
with a line naming the shard, as a crash in the launcher's process would.
"""

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading

from transforms import metrics
from transforms import stopping
from transforms.converting import Concurrency
from transforms.shard_stream import ShardStreamWriter

# Spawned, not forked: a fork copies locks other threads of the launcher
# (progress line, libtiff filter, Beam's runner) may hold at that moment.
_START_METHOD = "spawn"
_STOP_TIMEOUT_S = 10


class ShardProcessError(RuntimeError):
    """A shard-writing process failed or died."""


def per_process(concurrency):
    """One process's share of a worker's threads: its decodes share the
    cores with the other processes'. One of each (local files on one core a
    process) means no threads at all: converting.Converter then reads and
    decodes in the process's own thread."""
    processes = concurrency.processes
    decode = max(1, concurrency.decode_threads // processes)
    return Concurrency(
        fetch_threads=max(decode, concurrency.fetch_threads // processes), decode_threads=decode, processes=1
    )


@dataclasses.dataclass
class _Process:
    process: multiprocessing.Process
    connection: multiprocessing.connection.Connection
    shard: tuple = None  # (split, index, count) being written, if any.


@dataclasses.dataclass
class _Started:
    """Processes spawned, not yet told what to write."""

    workers: list  # [_Process]
    finished: object  # The multiprocessing Value they count written images into.


def _spawn(count):
    context = multiprocessing.get_context(_START_METHOD)
    finished = context.Value("q", 0)  # Images written by them, for the progress line.
    workers = []
    for _ in range(count):
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, finished),
            name="im2tfrecord-shards",
            daemon=True,  # Terminated when the launcher exits, interrupted or not.
        )
        process.start()
        theirs.close()
        workers.append(_Process(process, ours))
    return _Started(workers, finished)


class ShardProcesses:
    """N processes, each writing one shard at a time: those `started_early`
    spawned for this run, if it did, else new ones."""

    def __init__(self, shard_settings, concurrency):
        started = _take_early(concurrency.processes) or _spawn(concurrency.processes)
        share = per_process(concurrency)
        try:
            for worker in started.workers:
                worker.connection.send((shard_settings, share))
        except OSError:
            _end(started.workers)
            raise ShardProcessError("a shard-writing process died before it was given a shard") from None
        self._idle, self._busy = list(started.workers), []
        self._finished = started.finished
        metrics.share_finished(self._finished)
        self._stop_listening = stopping.on_stop(self._stop)
        logging.getLogger(__name__).info(
            "writing shards in %d processes of their own, %d fetch and %d decode threads each",
            concurrency.processes,
            share.fetch_threads,
            share.decode_threads,
        )

    def write(self, shard, class_names):
        """Starts writing `shard` in an idle process, first waiting for one if
        all are busy; returns the Written of the shards that finished meanwhile."""
        done = [] if self._idle else self._collect(timeout=None)
        worker = self._idle.pop()
        worker.connection.send((shard, class_names))
        worker.shard = shard[0]
        self._busy.append(worker)
        return done + self._collect(timeout=0)

    def finish(self):
        """Waits for every shard started; returns their Written."""
        done = []
        while self._busy:
            done += self._collect(timeout=None)
        return done

    def _stop(self):
        """A stop was asked for: each process drops the shard it is writing."""
        for worker in self._idle + self._busy:
            if worker.process.pid is not None and worker.process.exitcode is None:
                os.kill(worker.process.pid, signal.SIGTERM)

    def close(self):
        self._stop_listening()
        _end(self._idle + self._busy)
        metrics.unshare_finished(self._finished)
        self._idle, self._busy = [], []

    def _collect(self, timeout):
        """The Written of busy processes that are done, waiting up to `timeout`."""
        ready = set(
            multiprocessing.connection.wait(
                [w.connection for w in self._busy] + [w.process.sentinel for w in self._busy], timeout
            )
        )
        done = []
        for worker in list(self._busy):
            if worker.connection not in ready and worker.process.sentinel not in ready:
                continue
            try:
                status, value = worker.connection.recv()
            except (EOFError, OSError):
                raise self._died(worker) from None
            self._busy.remove(worker)
            self._idle.append(worker)
            if status != "ok":
                raise ShardProcessError(value)
            done.append(value)
        return done

    def _died(self, worker):
        worker.process.join(_STOP_TIMEOUT_S)
        split, index, count = worker.shard
        return ShardProcessError(
            f"the process writing shard {index + 1} of {count} of {split} died (exit code {worker.process.exitcode})"
        )


def _end(workers):
    """Asks each process to end, then ends those that do not."""
    for worker in workers:
        try:
            worker.connection.send(None)
        except OSError:  # Already gone.
            pass
    for worker in workers:
        worker.process.join(_STOP_TIMEOUT_S)
        if worker.process.is_alive():
            worker.process.terminate()


def _serve(connection, finished):
    """A shard-writing process: told its settings first (it may be started
    before they are known: `started_early`), then writes each shard it is
    sent and sends back its Written."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launcher's to handle,
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.request())  # which then stops us.
    _exit_with_parent()
    metrics.count_finished_into(finished)
    try:
        task = connection.recv()
    except EOFError:
        return
    if task is None:  # Started early, and not needed.
        return
    shard_settings, concurrency = task
    writer = ShardStreamWriter(shard_settings, concurrency, extra_connections=1)
    try:
        while True:
            try:
                task = connection.recv()
            except EOFError:
                return
            if task is None:
                return
            shard, class_names = task
            try:
                result = ("ok", writer.write(shard, class_names))
            except Exception as e:  # The launcher fails the job with the same line.
                result = ("error", f"{type(e).__name__}: {e}")
            connection.send(result)
            if stopping.requested():
                return
    finally:
        writer.close()


def _exit_with_parent():
    """Ends this process as soon as the launcher is gone, however it ended."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch():
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# A local run's processes spawned before its write stage asked for them:
# a process takes about half a second to start (a fresh interpreter importing
# Pillow and NumPy), which the write stage otherwise waits out with
# every core idle, while planning keeps only one core busy before it.
_early = None  # _Started, or _SPAWNING, until the write stage takes it or the run ends.
_early_changed = threading.Condition()
_SPAWNING = "spawning"
# How often the watcher looks at the count of images listed.
_WATCH_S = 0.05


def _take_early(count):
    """The processes started early, if there are `count` of them and all are
    alive, now this caller's; waits for them while they are being started."""
    global _early
    with _early_changed:
        _early_changed.wait_for(lambda: _early is not _SPAWNING)
        started, _early = _early, None
    if started is None:
        return None
    if len(started.workers) != count or not all(w.process.is_alive() for w in started.workers):
        _end(started.workers)
        return None
    return started


@contextlib.contextmanager
def started_early(concurrency, after_matched):
    """While a local run runs: once its listing has matched `after_matched`
    inputs (metrics.snapshot), spawns the run's `concurrency.processes` shard
    processes, for its write stage to take (ShardProcesses) when planning
    ends. Those it never takes (its shards came out too small, or too few
    for the processes) end with the run, and wait idle until then: half a
    second of a core each that planning left idle, and their memory (about
    50 MB each)."""
    global _early
    if concurrency.processes <= 1:
        yield
        return
    done = threading.Event()

    def watch():
        global _early
        while not done.wait(_WATCH_S):
            if metrics.snapshot()[0] >= after_matched:
                with _early_changed:
                    _early = _SPAWNING
                started = None
                try:
                    started = _spawn(concurrency.processes)
                finally:
                    with _early_changed:
                        _early = started
                        _early_changed.notify_all()
                return

    watcher = threading.Thread(target=watch, name="shard-processes-early", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()  # Its spawning done, if it began.
        with _early_changed:
            started, _early = _early, None
        if started is not None:
            _end(started.workers)
