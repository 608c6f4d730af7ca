"""One training worker of tests/test_read_workers.py, in a process of its own,
as a training job runs: it reads a split as its framework hands it out and
writes what it got to a JSON file for the test to add up.

  python -m tests.read_worker tf PREFIX OUT       TF_CONFIG set by the test
  python -m tests.read_worker torch PREFIX OUT RANK WORLD PORT

Every image of the test's dataset is one solid colour, its number written
in its red and green (red + 256 * green), so what a worker read is the list
of those numbers, in the order its loop got them, one list per step.
"""

import json
import sys

# A synchronous step of training reduced to what makes it synchronous: every
# worker adds a number with all the others (an all-reduce). A worker with
# fewer steps than another leaves that one waiting in its last all-reduce.


def image_numbers(images):
    """The numbers of a batch of images [N, H, W, C] (numpy), from their top-left pixels."""
    return [int(image[0, 0, 0]) + 256 * int(image[0, 0, 1]) for image in images]


def run_tf(prefix, out):
    import os

    import tensorflow as tf

    from pipeline import read

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    tf_config = os.environ.pop("TF_CONFIG")  # Read by the strategy; the rows below say where the place comes from.
    result = {}
    for name, make in {
        # distribute_datasets_from_function passes the InputContext.
        "input_context": lambda context: read.tf_dataset(prefix, "train", input_context=context),
        # Without it the reader finds its place in TF_CONFIG.
        "tf_config": lambda context: read.tf_dataset(prefix, "train"),
        # even=True: the same number of steps on both workers.
        "even": lambda context: read.tf_dataset(prefix, "train", input_context=context, even=True),
    }.items():
        if name == "tf_config":
            os.environ["TF_CONFIG"] = tf_config
        dataset = strategy.distribute_datasets_from_function(lambda context, make=make: make(context).batch(2))
        steps = []
        for images, _ in dataset:
            local = tf.concat(strategy.experimental_local_results(images), axis=0)
            steps.append(image_numbers(local.numpy()))
            # The all-reduce of a synchronous step.
            strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)
        result[name] = steps
        os.environ.pop("TF_CONFIG", None)
    with open(out, "w") as f:
        json.dump(result, f)


def run_torch(prefix, out, rank, world, port):
    import torch
    import torch.distributed as dist
    import torch.utils.data

    from pipeline import read

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    result = {}
    for name, even, persistent, start in (
        ("plain", False, False, "fork"),
        ("even", True, False, "fork"),
        ("persistent", False, True, "fork"),
        # Spawned workers have no process group: the rank comes with the dataset.
        ("spawn", False, True, "spawn"),
    ):
        dataset = read.torch_dataset(prefix, "train", shuffle_buffer=8, seed=3, even=even)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=2, num_workers=2, persistent_workers=persistent, multiprocessing_context=start
        )
        epochs = []
        for epoch in range(2):
            dataset.set_epoch(epoch)
            steps = []
            for images, _ in loader:
                steps.append(image_numbers(images.numpy()))
                if even:  # The all-reduce of a synchronous (DDP) step.
                    dist.all_reduce(torch.ones(1))
            epochs.append(steps)
        result[name] = epochs
    dist.destroy_process_group()
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    kind, prefix, out = sys.argv[1:4]
    if kind == "tf":
        run_tf(prefix, out)
    else:
        run_torch(prefix, out, *map(int, sys.argv[4:7]))
