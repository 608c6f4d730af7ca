"""`torch_dataset`: a split as a PyTorch IterableDataset, without TensorFlow.

An IterableDataset is copied into every DataLoader worker process, and each
copy iterates on its own: left alone, `num_workers=4` yields every record 4
times. Here each copy finds its place when iterated, from the DDP rank
(torch.distributed, when initialised; or the `worker_index`/`num_workers`
given) and its DataLoader worker (`torch.utils.data.get_worker_info()`),
and reads only its own whole shards (pipeline/read/workers.py): ranks x
loader workers in all, every record once per epoch.

Imports torch: `pipeline.read` imports this module only when
`torch_dataset` is called.
"""

import os

import torch
import torch.utils.data

from pipeline.read import info as infos
from pipeline.read import workers
from pipeline.read.examples import worker_examples


class ShardedImageDataset(torch.utils.data.IterableDataset):
    """(image, label) of one split: image a uint8 tensor [H, W, C] (or what
    `transform` makes of it), label an int; dicts with as_supervised=False.

    Call `set_epoch(n)` before each epoch (as with DistributedSampler) for a
    new order per epoch with the same seed. Each iteration in one process
    after the last set_epoch there counts one epoch on: a DataLoader's
    persistent workers (persistent_workers=True), which never see the
    set_epoch calls made in the main process, still move to the next epoch.
    """

    def __init__(self, prefix, *, s3, reading, place, transform):
        super().__init__()
        self._prefix = os.fspath(prefix)
        self._s3 = dict(s3 or {})
        self._reading = reading
        self._place = place
        # The DDP rank where the dataset is made: a DataLoader worker started
        # by spawn (not fork) has no process group of its own to ask.
        self._rank_place = _ddp_place()
        self._transform = transform
        self._storage, self._storage_pid = None, None
        self.info = infos.reader_info(self._storage_here(), self._prefix)
        self._epoch, self._iterated = 0, 0  # set_epoch's, and iterations in this process since.
        infos.split_entry(self.info, reading.split)  # An unknown split fails here, not in a worker.

    def set_epoch(self, epoch):
        self._epoch, self._iterated = epoch, 0

    def worker_place(self):
        """This copy's place among every reader of the split: the rank's (as
        given, or torch.distributed's), then its DataLoader worker's."""
        place = self._rank()
        loader = torch.utils.data.get_worker_info()
        return place.within(workers.WorkerPlace(loader.id, loader.num_workers)) if loader else place

    def _rank(self):
        return self._place or _ddp_place() or self._rank_place or workers.ALONE

    def _warns(self):
        """Whether this copy warns of an uneven split: with several ranks
        only (one process's DataLoader workers never wait for each other:
        the loader takes batches from those with records left), and once per
        rank, not in every loader worker."""
        loader = torch.utils.data.get_worker_info()
        return self._rank().count > 1 and (loader is None or loader.id == 0)

    def __iter__(self):
        reading = self._reading
        if reading.decode_threads is None and torch.utils.data.get_worker_info() is not None:
            # DataLoader's workers are the parallelism already: a thread each.
            reading = type(reading)(**{**vars(reading), "decode_threads": 1})
        epoch = self._epoch + self._iterated
        self._iterated += 1
        examples = worker_examples(
            self._storage_here(), self.info, self._prefix, reading, self.worker_place(), epoch, warn=self._warns()
        )
        for example in examples:
            yield self._to_torch(example)

    def _to_torch(self, example):
        if self._reading.as_supervised:
            image, label = example
            return self._image(image), label
        return {**example, "image": self._image(example["image"])}

    def _image(self, image):
        if not self._reading.decode:
            return image  # The encoded bytes.
        # Pillow's pixels are a read-only view of its bytes; torch wants its own.
        tensor = torch.from_numpy(image if image.flags.writeable else image.copy())
        return self._transform(tensor) if self._transform else tensor

    def _storage_here(self):
        """One Storage (one connection pool) per process: a copy forked into
        a DataLoader worker makes its own."""
        if self._storage_pid != os.getpid():
            self._storage, self._storage_pid = infos.storage(self._s3), os.getpid()
        return self._storage

    def __getstate__(self):
        state = dict(vars(self))
        state["_storage"], state["_storage_pid"] = None, None  # Clients do not pickle (spawned workers).
        return state


def _ddp_place():
    """This process's DDP rank among the world's, or None outside a process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return workers.WorkerPlace(torch.distributed.get_rank(), torch.distributed.get_world_size())
    return None
