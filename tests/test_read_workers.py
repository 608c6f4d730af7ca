"""pipeline.read on several workers: each worker its own whole shards, every
record read once per epoch across them all, the same number of steps with
even=True; in one process per worker as the tests of the whole (a
MultiWorkerMirroredStrategy of two TensorFlow processes on localhost, and a
DataLoader of 2 workers in each of 2 DDP ranks), and the split itself.

Every image of the dataset here is a solid colour whose red and green spell
its number (tests/read_worker.py), so what a worker read is known from the
pixels alone, not from anything the reader says of itself.
"""

import json
import os
import subprocess
import sys
import warnings

import pytest

from pipeline import main
from pipeline import read
from pipeline.read import workers
from pipeline.read.info import Shard
from tests.conftest import on_both_s3_servers
from tests.conftest import s3_client_settings
from tests.conftest import upload_tree
from tests.records import save_image
from tests.servers import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("cat", "dog", "owl")
PER_CLASS = 21
# 63 images: 39 train in 10 shards (nine of 4, one of 3: 3/3/2/2 shards, 12,
# 11, 8 and 8 records on 4 workers; 20 and 19 on 2), 24 validation in 4
# shards of 6 (even on 2 and 4 workers).
NUM_SHARDS = "train=10,validation=4"
FLAGS = ["--image_format", "png", "--resize_mode", "exact", "--image_size", "8", "--validation_ratio", "0.4"]
WORKER_TIMEOUT = 240  # A worker waiting on an all-reduce its peer never joins fails here, not in CI's bound.


@pytest.fixture(scope="module")
def numbered_source(tmp_path_factory):
    return tmp_path_factory.mktemp("numbered")


@pytest.fixture(scope="module")
def numbered(numbered_source, tmp_path_factory):
    """(dataset prefix, {image number: class}): lossless PNGs, 8x8 exact."""
    source = numbered_source
    classes = {}
    for c, name in enumerate(CLASSES):
        for i in range(PER_CLASS):
            number = 1000 * c + i + 1  # Never 0: a black image is no evidence.
            save_image(str(source / name / f"{number}.png"), size=(8, 8), color=(number % 256, number // 256, 77))
            classes[number] = name
    output = str(tmp_path_factory.mktemp("out") / "shards")
    assert main(["--input", str(source), "--output", output, "--num_shards", NUM_SHARDS, *FLAGS]) == 0
    return output, classes


def _numbers(items):
    return [int(image[0, 0, 0]) + 256 * int(image[0, 0, 1]) for image, _ in items]


def _split(prefix, split):
    return read.load_info(prefix)["splits"][split]


# The split itself, on shard sizes written here by hand.


def _shards(*sizes):
    return [Shard(f"s{n}", size, "") for n, size in enumerate(sizes)]


def test_whole_shards_go_largest_first_to_the_least_loaded_worker():
    shards = _shards(4, 4, 3, 3, 3, 3, 3, 3, 3, 3)
    # 0, 1 (4 each) to workers 0, 1; 2, 3 to workers 2, 3; 4 and 5 to the
    # least loaded, 2 and 3 (3 each); 6 and 7 to 0 and 1 (4 < 6); 8, 9 to 2, 3.
    assert workers.split_shards(shards, 4) == [[0, 6], [1, 7], [2, 4, 8], [3, 5, 9]]
    assert workers.records_per_worker(shards, 4) == [7, 7, 9, 9]
    assert workers.split_shards(_shards(10, 1, 1, 1, 1, 1, 1), 2) == [[0], [1, 2, 3, 4, 5, 6]]
    assert workers.split_shards(_shards(5, 5, 5, 5), 4) == [[0], [1], [2], [3]]
    assert workers.split_shards(_shards(5, 5, 5, 5), 1) == [[0, 1, 2, 3]]


def test_fewer_shards_than_workers_is_refused_with_the_rule():
    with pytest.raises(ValueError, match=r"^3 shards cannot be split among 4 workers: .*--shard_multiple 4 "):
        workers.split_shards(_shards(1, 1, 1), 4)
    with pytest.raises(
        ValueError, match=r"^3 shards cannot be split among 4 workers \(2 ranks x 2 DataLoader workers\)"
    ):
        workers.split_shards(_shards(1, 1, 1), 4, "2 ranks x 2 DataLoader workers")
    with pytest.raises(ValueError, match=r"^1 shard cannot be split among 2 workers: "):
        workers.split_shards(_shards(1), 2)


def test_a_worker_place_is_checked():
    with pytest.raises(ValueError, match="worker_index must be from 0 to num_workers - 1 = 3, got 4"):
        workers.WorkerPlace(4, 4)
    with pytest.raises(ValueError, match="num_workers must be a whole number of at least 1, got 0"):
        workers.WorkerPlace(0, 0)
    with pytest.raises(ValueError, match="pass worker_index and num_workers together"):
        workers.given_place(1, None)
    loader_worker = workers.WorkerPlace(1, 2).within(workers.WorkerPlace(1, 2))  # Rank 1's DataLoader worker 1.
    assert (loader_worker.index, loader_worker.count) == (3, 4)
    assert loader_worker.made_of == "2 ranks x 2 DataLoader workers"


@pytest.mark.parametrize(
    ("config", "place"),
    [
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, (1, 2)),
        ({"cluster": {"chief": ["c:0"], "worker": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}, (0, 3)),
        ({"cluster": {"chief": ["c:0"], "worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, (1, 3)),
        ({"cluster": {"worker": ["a:1", "b:2"], "evaluator": ["e:3"]}, "task": {"type": "evaluator"}}, None),
        ({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, None),
    ],
)
def test_tf_config_gives_multi_worker_mirrored_strategys_numbering(config, place):
    found = workers.tf_config_place({"TF_CONFIG": json.dumps(config)})
    assert found == (workers.WorkerPlace(*place) if place else None)


# One process, every worker's place in turn.


@pytest.mark.parametrize("split", ["train", "validation"])
def test_workers_read_disjoint_whole_shards_and_every_record_once(numbered, split):
    prefix, classes = numbered
    entry = _split(prefix, split)
    pairs = list(read.iter_examples(prefix, split))
    everything = _numbers(pairs)
    assert len(set(everything)) == len(everything) == entry["num_examples"]
    assert [label for _, label in pairs] == [CLASSES.index(classes[n]) for n in everything]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", read.UnevenSplitWarning)
        per_worker = [_numbers(read.iter_examples(prefix, split, worker_index=w, num_workers=4)) for w in range(4)]
    assert sorted(sum(per_worker, [])) == sorted(everything)  # Each once, none lost.
    assert [len(numbers) for numbers in per_worker] == read.records_per_worker(read.load_info(prefix), split, 4)
    shard_of = {}
    start = 0
    for number, shard in enumerate(entry["shards"]):
        for n in everything[start : start + shard["num_examples"]]:
            shard_of[n] = number
        start += shard["num_examples"]
    owners = [{shard_of[n] for n in numbers} for numbers in per_worker]
    for w, shards in enumerate(owners):  # Whole shards: all of each shard a worker touches.
        assert sorted(n for n in per_worker[w]) == sorted(n for n in everything if shard_of[n] in shards)
    assert sum(len(shards) for shards in owners) == len(entry["shards"])


def test_an_uneven_split_warns_once_and_even_gives_every_worker_the_smallest_count(numbered):
    prefix, _ = numbered
    info = read.load_info(prefix)
    assert [shard["num_examples"] for shard in info["splits"]["train"]["shards"]] == [4] * 9 + [3]
    loads = read.records_per_worker(info, "train", 4)
    assert loads == [12, 11, 8, 8]  # Whole shards: 3, 3, 2 and 2 of them.
    workers._warned.clear()
    with pytest.warns(
        read.UnevenSplitWarning,
        match=r"split 'train' splits unevenly among 4 workers: 8 to 12 records each; .*even=True .*--shard_multiple 4",
    ):
        read.iter_examples(prefix, "train", worker_index=0, num_workers=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read.iter_examples(prefix, "train", worker_index=1, num_workers=4)  # Once per split and count.
        evens = [
            _numbers(read.iter_examples(prefix, "train", worker_index=w, num_workers=4, even=True, shuffle_buffer=4))
            for w in range(4)
        ]
    assert [len(numbers) for numbers in evens] == [min(loads)] * 4
    assert len(set(sum(evens, []))) == 4 * min(loads)


def test_tf_dataset_workers_read_what_the_iterator_workers_read(numbered):
    prefix, _ = numbered
    for w in range(2):
        pairs = read.tf_dataset(prefix, "validation", worker_index=w, num_workers=2)
        assert sorted(_numbers((image.numpy(), label) for image, label in pairs)) == sorted(
            _numbers(read.iter_examples(prefix, "validation", worker_index=w, num_workers=2))
        )


def test_shuffled_workers_keep_their_shards_and_the_order_follows_seed_and_epoch(numbered):
    prefix, _ = numbered

    def order(epoch, seed=5):
        return _numbers(
            read.iter_examples(
                prefix, "validation", worker_index=1, num_workers=2, shuffle_buffer=3, seed=seed, epoch=epoch
            )
        )

    assert order(0) == order(0)
    assert order(1) != order(0) and sorted(order(1)) == sorted(order(0))
    assert sorted(order(0, seed=6)) == sorted(order(0))


def test_parallel_decoding_keeps_the_order(numbered):
    prefix, _ = numbered
    one = _numbers(read.iter_examples(prefix, "train", decode_threads=1))
    assert _numbers(read.iter_examples(prefix, "train", decode_threads=3)) == one


@on_both_s3_servers
def test_s3_shards_come_in_the_order_tf_data_gives_the_local_ones(
    numbered, numbered_source, s3_client, s3_endpoint, bucket, tmp_path
):
    """tf_dataset interleaves S3 shards in Python (stream.records_interleaved),
    local ones with tf.data's interleave: the same records in the same order.
    7 shards of 6, 6, 6, 6, 5, 5 and 5 records, 5 read at once: shards in one
    cycle end at different times, and the next takes the place of the one
    that ended (3 at once would not tell: the shards that end together hide
    where the next one went)."""
    prefix = str(tmp_path / "seven")
    assert main(["--input", str(numbered_source), "--output", prefix, "--num_shards", "7", *FLAGS]) == 0
    assert [s["num_examples"] for s in _split(prefix, "train")["shards"]] == [6, 6, 6, 6, 5, 5, 5]
    upload_tree(s3_client, prefix, bucket, "shards")
    s3 = s3_client_settings(s3_endpoint)
    remote = f"s3://{bucket}/shards"
    for kwargs in ({}, {"num_parallel_reads": 5}, {"worker_index": 1, "num_workers": 3, "even": True}):
        local = _numbers(read.tf_dataset(prefix, "train", **kwargs).as_numpy_iterator())
        assert _numbers(read.tf_dataset(remote, "train", s3=s3, **kwargs).as_numpy_iterator()) == local, kwargs
    anyhow = _numbers(read.tf_dataset(remote, "train", s3=s3, deterministic=False).as_numpy_iterator())
    assert sorted(anyhow) == sorted(_numbers(read.iter_examples(prefix, "train")))
    shuffled = [
        _numbers(read.tf_dataset(where, "train", s3=s3, shuffle_buffer=5, seed=2).as_numpy_iterator())
        for where in (remote, remote, prefix)
    ]
    assert shuffled[0] == shuffled[1] == shuffled[2]  # One seed, one order, from S3 or disk.
    in_order = _numbers(read.tf_dataset(prefix, "train").as_numpy_iterator())
    assert sorted(shuffled[0]) == sorted(in_order) and shuffled[0] != in_order


# Processes, as training runs.


def _run_workers(commands, tmp_path):
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for command, env in commands
    ]
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=WORKER_TIMEOUT)[0])
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise AssertionError("a worker hung (an all-reduce its peer never joined?)") from None
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]


_ONE_PROCESS_LOADER = """
import sys, torch.utils.data
from pipeline import read
place = dict(worker_index=0, num_workers=2) if sys.argv[2] == "rank 0 of 2" else {}
loader = torch.utils.data.DataLoader(read.torch_dataset(sys.argv[1], "train", **place), batch_size=4, num_workers=2)
print("records", sum(len(labels) for _, labels in loader))
"""


@pytest.mark.parametrize(("ranks", "records", "warned"), [("alone", 39, False), ("rank 0 of 2", 23, True)])
def test_one_process_loader_workers_warn_of_an_uneven_split_only_among_ranks(numbered, ranks, records, warned):
    # 39 records in 10 shards: 20 and 19 between 2 DataLoader workers. Alone,
    # the loader takes batches from whichever worker has records left, and
    # nothing waits; as rank 0 of 2 (workers 0 and 1 of 4: 12 + 11 records of
    # 12, 11, 8, 8), the other rank would.
    prefix, _ = numbered
    command = [sys.executable, "-c", _ONE_PROCESS_LOADER, prefix, ranks]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=True)
    assert f"records {records}" in done.stdout
    assert ("UnevenSplitWarning" in done.stderr) == warned, done.stderr


def test_multi_worker_mirrored_strategy_two_processes_read_every_record_once(numbered, tmp_path):
    prefix, _ = numbered
    ports = [free_port(), free_port()]
    commands = []
    for index in range(2):
        config = {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
        env = dict(os.environ, TF_CONFIG=json.dumps(config), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        commands.append(
            ([sys.executable, "-m", "tests.read_worker", "tf", prefix, str(tmp_path / f"{index}.json")], env)
        )
    _run_workers(commands, tmp_path)
    results = [json.loads((tmp_path / f"{index}.json").read_text()) for index in range(2)]
    everything = sorted(_numbers(read.iter_examples(prefix, "train")))
    loads = read.records_per_worker(read.load_info(prefix), "train", 2)
    assert sorted(loads) == [19, 20]  # Uneven: 39 records.
    for name in ("input_context", "tf_config", "even"):
        got = [sum(result[name], []) for result in results]
        assert not set(got[0]) & set(got[1]), name  # Disjoint.
        # The same number of steps on both: TensorFlow's distributed iterator
        # pads the uneven end itself (a batch of 1 or 0 on one worker).
        assert len(results[0][name]) == len(results[1][name]), name
        if name == "even":
            assert [len(numbers) for numbers in got] == [19, 19]
        else:
            assert sorted(got[0] + got[1]) == everything, name  # Every record once across the workers.
            assert sorted(len(numbers) for numbers in got) == sorted(loads), name


def test_dataloader_two_workers_in_each_of_two_ranks_read_every_record_once(numbered, tmp_path):
    prefix, _ = numbered
    port = free_port()
    commands = [
        (
            [
                sys.executable,
                "-m",
                "tests.read_worker",
                "torch",
                prefix,
                str(tmp_path / f"{rank}.json"),
                str(rank),
                "2",
                str(port),
            ],
            dict(os.environ),
        )
        for rank in range(2)
    ]
    _run_workers(commands, tmp_path)
    results = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in range(2)]
    everything = sorted(_numbers(read.iter_examples(prefix, "train")))
    loads = read.records_per_worker(read.load_info(prefix), "train", 4)  # 2 ranks x 2 loader workers.
    for epoch in range(2):
        got = [sum(result["plain"][epoch], []) for result in results]
        assert sorted(got[0] + got[1]) == everything  # Every record once per epoch across ranks and workers.
        assert not set(got[0]) & set(got[1])
        even = [sum(result["even"][epoch], []) for result in results]
        assert [len(numbers) for numbers in even] == [2 * min(loads)] * 2
        assert len(set(even[0] + even[1])) == 4 * min(loads)
        assert len(results[0]["even"][epoch]) == len(results[1]["even"][epoch])  # Equal steps: no stall.
    # set_epoch: a new order, the same records; with persistent workers too
    # (they never see set_epoch), the same orders as workers made anew.
    orders = [result["plain"] for result in results]
    assert all(epochs[0] != epochs[1] for epochs in orders)
    assert all(sorted(sum(epochs[0], [])) == sorted(sum(epochs[1], [])) for epochs in orders)
    assert [result["persistent"] for result in results] == orders
    assert [result["spawn"] for result in results] == orders  # Spawned workers know their rank too.
