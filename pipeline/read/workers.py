"""Which shards a training worker reads: whole shards, the same split on every worker.

Training on several workers (MultiWorkerMirroredStrategy, SageMaker with
several instances, PyTorch DDP ranks with DataLoader workers each) needs each
record read once per epoch across all of them. A worker reads whole shards,
not every Nth record: taking every Nth record of every shard (TensorFlow's
DATA auto-sharding, what it falls back to for a Python generator) downloads
every shard on every worker to keep 1/N of it.

Each worker works the split out alone, from dataset_info.json's record
counts, and all of them work out the same one: shards go, largest first
(dataset order on ties), to the worker with the fewest records so far (the
lowest number on ties). The split stays the same from epoch to epoch:
synchronous training averages every worker's gradients at every step, so
which worker reads a record does not matter; the order in which a worker
reads its shards does, and follows the seed and the epoch (the readers).

Synchronous training also needs the same number of steps on every worker:
with whole shards 10 shards on 4 workers are 3/3/2/2 shards, and the workers
with 2 run out first and leave the others waiting. The rule: a shard count
that is a multiple of the workers (ranks x DataLoader workers), which the
converter's shards, equal to a record, then split evenly to a record or so;
and `even=True` in the readers, which has every worker stop at the smallest
worker's count (dropping at most the difference, a different tail every
epoch when shuffled).
"""

import dataclasses
import heapq
import json
import os
import warnings

# Where the docs explain how many shards to make for N workers.
_HOW_MANY_SHARDS = 'docs/training.md, "Training on several workers"'


class UnevenSplitWarning(UserWarning):
    """Workers hold different record counts: synchronous training would
    wait at the end of every epoch for the workers with more."""


@dataclasses.dataclass(frozen=True)
class WorkerPlace:
    """This worker's number (0-based) among `count` workers reading one
    split; `made_of` says what they are when they are not simply workers
    ("2 ranks x 4 DataLoader workers"), for the messages."""

    index: int
    count: int
    made_of: str = ""

    def __post_init__(self):
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"num_workers must be a whole number of at least 1, got {self.count!r}")
        if not isinstance(self.index, int) or not 0 <= self.index < self.count:
            raise ValueError(f"worker_index must be from 0 to num_workers - 1 = {self.count - 1}, got {self.index!r}")

    def within(self, inner):
        """The place of worker `inner` of this worker's own (a DataLoader's
        worker process inside a rank): ranks x loader workers in all."""
        made_of = f"{self.count} rank{'s' if self.count > 1 else ''} x {inner.count} DataLoader workers"
        return WorkerPlace(self.index * inner.count + inner.index, self.count * inner.count, made_of)


ALONE = WorkerPlace(0, 1)


def given_place(worker_index, num_workers):
    """The place a caller passed, or None when it passed neither; both or none."""
    if worker_index is None and num_workers is None:
        return None
    if worker_index is None or num_workers is None:
        raise ValueError("pass worker_index and num_workers together (or neither)")
    return WorkerPlace(worker_index, num_workers)


def tf_config_place(environ=os.environ):
    """This worker's place in a TF_CONFIG cluster (MultiWorkerMirroredStrategy's
    numbering: the chief first, then the workers), or None without one.

    An evaluator, or a task outside the chief and the workers, reads alone."""
    config = json.loads(environ.get("TF_CONFIG") or "{}")
    cluster, task = config.get("cluster") or {}, config.get("task") or {}
    members = [("chief", i) for i in range(len(cluster.get("chief", [])))]
    members += [("worker", i) for i in range(len(cluster.get("worker", [])))]
    if len(members) < 2 or (task.get("type"), task.get("index", 0)) not in members:
        return None
    return WorkerPlace(members.index((task["type"], task.get("index", 0))), len(members))


def split_shards(shards, count, made_of=""):
    """For each of `count` workers, the numbers of the shards it reads, in
    dataset order: largest first to the least loaded (see the docstring)."""
    if len(shards) < count:
        raise ValueError(
            f"{len(shards)} shard{'' if len(shards) == 1 else 's'} cannot be split among {_workers(count, made_of)}: "
            "each reads whole shards; "
            f"convert with --shard_multiple {count} (or --num_shards a multiple of {count}) ({_HOW_MANY_SHARDS})"
        )
    loads = [(0, worker) for worker in range(count)]
    taken = [[] for _ in range(count)]
    for number in sorted(range(len(shards)), key=lambda n: -shards[n].num_examples):
        records, worker = heapq.heappop(loads)
        taken[worker].append(number)
        heapq.heappush(loads, (records + shards[number].num_examples, worker))
    return [sorted(numbers) for numbers in taken]


def records_per_worker(shards, count):
    """Records each of `count` workers reads in an epoch."""
    return [sum(shards[n].num_examples for n in numbers) for numbers in split_shards(shards, count)]


@dataclasses.dataclass(frozen=True)
class WorkerShards:
    """What one worker reads: its shards (dataset order), and how many of
    their records it yields in an epoch (fewer than they hold with even=True)."""

    shards: list
    records: int


def worker_shards(shards, place, even=False, split="train", warn=True):
    """This worker's shards; warns (once per split and worker count in a
    process, when `warn`) if the workers' record counts differ and `even`
    is off."""
    numbers = split_shards(shards, place.count, place.made_of)
    loads = [sum(shards[n].num_examples for n in taken) for taken in numbers]
    if warn and place.count > 1 and max(loads) != min(loads) and not even:
        _warn_uneven(split, len(shards), place, loads)
    mine = [shards[n] for n in numbers[place.index]]
    return WorkerShards(mine, min(loads) if even else loads[place.index])


_warned = set()


def _workers(count, made_of):
    return f"{count} workers ({made_of})" if made_of else f"{count} workers"


def _warn_uneven(split, num_shards, place, loads):
    count = place.count
    if (split, count) in _warned:
        return
    _warned.add((split, count))
    if num_shards % count:
        remedy = f"or convert with --shard_multiple {count} ({_HOW_MANY_SHARDS})"
    else:  # Whole shards divide; the records (shards a record apart) do not.
        remedy = f"or take {min(loads)} records' worth of steps on every worker"
    warnings.warn(
        f"split {split!r} splits unevenly among {_workers(count, place.made_of)}: {min(loads)} to {max(loads)} "
        "records each; "
        f"synchronous training waits for the workers with more at every epoch's end: pass even=True (every worker "
        f"stops at {min(loads)}) {remedy}",
        UnevenSplitWarning,
        stacklevel=4,
    )
