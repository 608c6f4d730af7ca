"""The progress records a job leaves in --output (transforms/progress_records.py):
written by the shard writers, read by the launcher of a job on a cluster.
The records' bodies are checked as JSON files on disk and on real S3
servers; the end-to-end line on Flink and Spark is in test_clusters.py."""

import json
import os
import threading
import time

from pipeline import main
from tests.conftest import HYMENOPTERA
from tests.conftest import on_both_s3_servers
from tests.conftest import s3_client_settings
from transforms import progress_records
from transforms import storage as storage_module
from transforms.progress_records import PLANNED_FILE
from transforms.progress_records import JobProgress
from transforms.progress_records import ProgressReader
from transforms.progress_records import ShardProgress
from transforms.storage import Storage


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _record(folder, shard_file):
    with open(os.path.join(folder, f".im2tfrecord-progress-{shard_file}.json")) as f:
        return json.load(f)


def test_a_shard_record_is_written_at_most_every_interval_and_at_the_end(tmp_path):
    clock = _Clock()
    shard = ShardProgress(Storage(None), str(tmp_path), "train-00000-of-00002.tfrecord", 10, clock=clock)
    shard.advance()
    clock.now += 4.9
    shard.advance()
    assert os.listdir(tmp_path) == []  # Not due yet: nothing written.
    clock.now += 0.1
    shard.advance()
    assert _record(tmp_path, "train-00000-of-00002.tfrecord") == {"finished": 3, "images": 10}
    clock.now += 1
    shard.advance(2)
    assert _record(tmp_path, "train-00000-of-00002.tfrecord")["finished"] == 3  # 1 s later: not again.
    shard.finish()  # Failed images count as finished: the end is always all of them.
    assert _record(tmp_path, "train-00000-of-00002.tfrecord") == {"finished": 10, "images": 10}


def _write(folder, name, body):
    with open(os.path.join(folder, name), "w") as f:
        json.dump(body, f)


def test_the_reader_adds_up_the_shards_of_the_plan(tmp_path):
    clock = _Clock()
    reader = ProgressReader(Storage(None), str(tmp_path), clock=clock)
    assert reader.read() is None  # Nothing there yet: no line.
    _write(tmp_path, PLANNED_FILE, {"images": 50})
    assert reader.read(fresh=True) == JobProgress(0, 50)
    _write(tmp_path, ".im2tfrecord-progress-a.tfrecord.json", {"finished": 7, "images": 20})
    _write(tmp_path, ".im2tfrecord-progress-b.tfrecord.json", {"finished": 30, "images": 30})
    _write(tmp_path, "train-00000-of-00001.tfrecord", {"finished": 999})  # Not a record.
    clock.now += 1
    assert reader.read() == JobProgress(0, 50)  # Listed at most every POLL_INTERVAL_S.
    clock.now += progress_records.POLL_INTERVAL_S
    assert reader.read() == JobProgress(37, 50)
    # A record written again is read again at the next poll (its size
    # changes here; its mtime would too).
    _write(tmp_path, ".im2tfrecord-progress-a.tfrecord.json", {"finished": 20, "images": 20})
    clock.now += progress_records.POLL_INTERVAL_S
    assert reader.read() == JobProgress(50, 50)


def test_a_rewrite_the_version_misses_is_read_at_the_end(tmp_path):
    # A local record's version is its size and mtime: a shard's last write
    # within the clock's tick of the one before, of the same size, keeps
    # both. The job's end reads again every record not yet at its end.
    clock = _Clock()
    reader = ProgressReader(Storage(None), str(tmp_path), clock=clock)
    _write(tmp_path, ".im2tfrecord-progress-a.tfrecord.json", {"finished": 12, "images": 40})
    _write(tmp_path, ".im2tfrecord-progress-b.tfrecord.json", {"finished": 40, "images": 40})
    assert reader.read() == JobProgress(52, None)
    path = tmp_path / ".im2tfrecord-progress-a.tfrecord.json"
    before = os.stat(path)
    _write(tmp_path, path.name, {"finished": 39, "images": 40})
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    clock.now += progress_records.POLL_INTERVAL_S
    assert reader.read() == JobProgress(52, None)  # The same version: not read again while it runs.
    assert reader.read(fresh=True) == JobProgress(79, None)


class _SlowListing(Storage):
    """Local storage whose listings take a while, counting how many overlap."""

    def __init__(self):
        super().__init__(None)
        self.inside, self.most_inside = 0, 0

    def file_versions(self, folder, name_prefix=""):
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.05)
        self.inside -= 1
        return super().file_versions(folder, name_prefix)


def test_the_launcher_s_last_read_waits_for_the_progress_thread_s(tmp_path):
    storage = _SlowListing()
    reader = ProgressReader(storage, str(tmp_path))
    _write(tmp_path, ".im2tfrecord-progress-a.tfrecord.json", {"finished": 3, "images": 9})
    threads = [threading.Thread(target=reader.read, kwargs={"fresh": True}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.most_inside == 1
    assert reader.read() == JobProgress(3, None)


def test_a_record_not_yet_whole_or_gone_counts_nothing(tmp_path):
    reader = ProgressReader(Storage(None), str(tmp_path))
    _write(tmp_path, ".im2tfrecord-progress-a.tfrecord.json", {"finished": 5, "images": 9})
    (tmp_path / ".im2tfrecord-progress-b.tfrecord.json").write_text('{"finished": 4')
    assert reader.read(fresh=True) == JobProgress(5, None)
    (tmp_path / ".im2tfrecord-progress-b.tfrecord.json").write_text('{"finished": 4, "images": 9}')
    assert reader.read(fresh=True) == JobProgress(9, None)
    os.remove(tmp_path / ".im2tfrecord-progress-a.tfrecord.json")
    assert reader.read(fresh=True) == JobProgress(4, None)


@on_both_s3_servers
def test_records_on_s3_are_read_by_version_and_removed_in_batches(s3_client, s3_endpoint, bucket, monkeypatch):
    storage = Storage(s3_client_settings(s3_endpoint))
    output = f"s3://{bucket}/out"
    shard = ShardProgress(storage, output, "train-00000-of-00001.tfrecord", 4)
    shard.advance()
    shard.finish()
    storage.write(f"{output}/{PLANNED_FILE}", b'{"images": 4}')
    reader = ProgressReader(storage, output)
    assert reader.read(fresh=True) == JobProgress(4, 4)
    # More records than one multi-object delete takes (S3's 1,000, made 10
    # here: 1,001 PUTs take 11 s on moto), beside files that stay.
    monkeypatch.setattr(storage_module, "_DELETE_BATCH", 10)
    for n in range(25):
        storage.write(f"{output}/.im2tfrecord-progress-{n}.json", b"{}")
    storage.write(f"{output}/train-00000-of-00001.tfrecord", b"records")
    storage.write(f"{output}/.im2tfrecord-done-train-00000-of-00001.tfrecord.json", b"{}")
    progress_records.remove_records(storage, output)
    left = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]]
    assert sorted(left) == [
        "out/.im2tfrecord-done-train-00000-of-00001.tfrecord.json",
        "out/train-00000-of-00001.tfrecord",
    ]


def test_a_run_removes_an_earlier_run_s_records_and_leaves_none(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    _write(out, ".im2tfrecord-progress-stale.tfrecord.json", {"finished": 1000, "images": 1000})
    _write(out, PLANNED_FILE, {"images": 1000})
    assert main(["--input", HYMENOPTERA, "--output", str(out), "--num_shards", "2"]) == 0
    assert not [name for name in os.listdir(out) if name.startswith(".")]
    # In a log (not a terminal), the line's last reading is at the end of the work.
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("converting: ")]
    assert lines[-1].startswith("converting: 398/398 files (100%)"), lines


def test_the_writing_stage_waits_for_the_planned_total(tmp_path):
    """The count of planned images is a side input of the shard-writing ParDo,
    so every engine writes PLANNED_FILE before any shard: on Spark a branch
    nothing consumes ran after the whole job, and a cluster's progress line
    had no total until its last line. (test_clusters.py watches the files
    appear in that order on Flink and Spark.)"""
    import apache_beam as beam

    from pipeline.convert import job
    from pipeline.convert.main import _parse
    from pipeline.convert.main import _parser

    options = _parse(_parser(), ["--input", HYMENOPTERA, "--output", str(tmp_path / "out")])
    pipeline = beam.Pipeline(options=options)
    job.build(pipeline, options)
    proto = pipeline.to_runner_api()
    transforms = proto.components.transforms
    # A composite lists its last part's output as its own: the producer is the
    # leaf transform (one without parts), whatever order the proto's map gives.
    producer = {pcoll: name for name, t in transforms.items() if not t.subtransforms for pcoll in t.outputs.values()}
    writers = [
        t
        for t in transforms.values()
        if t.unique_name.startswith("WriteShardStreams/") and t.spec.urn == "beam:transform:pardo:v1"
    ]
    assert len(writers) == 1, [t.unique_name for t in transforms.values() if "WriteShardStreams" in t.unique_name]
    side_inputs = [transforms[producer[pcoll]].unique_name for tag, pcoll in writers[0].inputs.items() if "side" in tag]
    assert any(name.startswith("RecordPlannedImages/Write") for name in side_inputs), side_inputs
