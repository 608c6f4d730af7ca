"""errors.jsonl written without one worker holding every row, on the local
runner or a cluster: the most rows one worker held, and the file checked.

Run: .venv/bin/python bench/bench_errors_file.py [--rows 300000] [--runner local|flink|spark]

The case: a one-class CSV manifest of --rows rows (path,label) naming files
that do not exist, so that every row is planned (the manifest read in byte
ranges, ranked, dealt into shards) and then fails where a shard's writer
reads it: --rows error rows, `read_error` each, go to errors.jsonl. Cheap to
make, and it runs all of planning and the error path; at 300,000 rows it is
the case that broke Flink's data plane before issue 25 (one class in one
group). The conversion is the real one (pipeline/convert/job.py's `build`,
on Beam's FnApiRunner locally, through runners/<runner>/run.sh on a
cluster); only the command's checks and summary around it are left out.

Reported: seconds; "most rows one worker held" while the file was written,
the largest piece of errors.jsonl a worker sorted (the job's
`group_size/errors.jsonl` distribution; about 5,000 by design), beside the
largest group of each other grouping stage; on a cluster the most memory
one SDK worker used (sampled from /proc); and errors.jsonl's size and
sha256. The file is checked against what one worker's sort would write
(its own lines sorted whole, here, by plain Python: the file before
sorted_file.py) and against the manifest (one row per path, each a
`read_error`). The sha256 does not depend on the runner: run it with
--runner local and with --runner flink and compare.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_planning import add_runner_argument  # noqa: E402
from bench_planning import child_command  # noqa: E402
from bench_planning import sample_sdk_workers  # noqa: E402

_LABEL = "only"
_ERRORS_STAGE = "errors.jsonl"


def write_manifest(path, rows, input_root):
    """A one-class CSV manifest of `rows` files under `input_root` that do not exist."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("path,label\n")
        for n in range(rows):
            f.write(f"{input_root}/{_LABEL}/missing_{n:08d}.jpg,{_LABEL}\n")


def _child(args, runner_flags):
    """Converts the manifest in `args.folder` (the launcher, with
    `runner_flags` for a cluster); prints the largest groups as JSON."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline import beam_compat
    from pipeline.convert import job
    from transforms import metrics

    folder = args.folder
    flags = ["--manifest", os.path.join(folder, "labels.csv"), "--input", os.path.join(folder, "input")]
    flags += ["--output", os.path.join(folder, "output")]
    options = PipelineOptions([*flags, *runner_flags])
    started = time.monotonic()
    p = beam.Pipeline(runner=beam_compat.local_runner(options), options=options)
    job.build(p, options)
    result = p.run()
    result.wait_until_finish()
    seconds = time.monotonic() - started
    largest = {}
    query = result.metrics().query(MetricsFilter().with_namespace(metrics.METRICS_NAMESPACE))
    for size in query["distributions"]:
        name = size.key.metric.name
        value = size.committed if size.committed is not None else size.attempted
        if name.startswith(metrics.GROUP_SIZE_PREFIX) and value is not None and value.count:
            stage = name[len(metrics.GROUP_SIZE_PREFIX) :]
            largest[stage] = max(largest.get(stage, 0), value.max)
    print(json.dumps({"seconds": seconds, "largest_group_by_stage": largest}))


def _check(errors_path, rows, input_root):
    """errors.jsonl against what one worker's sort of its lines writes, and
    against the manifest; returns (bytes, sha256)."""
    with open(errors_path, "rb") as f:
        data = f.read()
    lines = data.decode("utf-8").splitlines()
    assert data == "".join(line + "\n" for line in sorted(lines)).encode("utf-8"), "not the one-sort file"
    parsed = [json.loads(line) for line in lines]
    expected = {f"{input_root}/{_LABEL}/missing_{n:08d}.jpg" for n in range(rows)}
    paths = [row["path"] for row in parsed]
    assert len(paths) == rows and set(paths) == expected, "a row lost, doubled or not the manifest's"
    assert {row["reason"] for row in parsed} == {"read_error"}, "a reason other than read_error"
    return len(data), hashlib.sha256(data).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000, help="manifest rows, each an error (default 300000)")
    add_runner_argument(parser, "--child-folder")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--child-folder", dest="folder", help=argparse.SUPPRESS)
    args, runner_flags = parser.parse_known_args()
    if args.folder:
        return _child(args, runner_flags)
    if runner_flags:
        parser.error(f"unrecognized arguments: {' '.join(runner_flags)}")

    # Under the project, not /tmp: a cluster's workers must see the files (this
    # machine's share its disk). The same folder every run, so that the rows'
    # paths, and so the file's bytes, are the same on every runner.
    folder = os.path.join(ROOT, ".cache", "bench-errors")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        input_root = os.path.join(folder, "input")
        os.makedirs(os.path.join(input_root, _LABEL))
        write_manifest(os.path.join(folder, "labels.csv"), args.rows, input_root)
        command, env = child_command(args.runner, __file__, ["--child-folder", folder])
        peaks, done = {}, threading.Event()
        sampler = threading.Thread(target=sample_sdk_workers, args=(peaks, done), daemon=True)
        sampler.start()
        started = time.monotonic()
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        done.set()
        sampler.join()
        if run.returncode != 0:
            sys.exit(f"the run failed:\n{run.stderr[-3000:]}")
        report = json.loads(run.stdout.strip().splitlines()[-1])
        size, sha256 = _check(os.path.join(folder, "output", "errors.jsonl"), args.rows, input_root)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    largest = report["largest_group_by_stage"]
    result = {
        "runner": args.runner,
        "rows": args.rows,
        "seconds": round(wall, 1),
        "most_rows_one_worker_held": largest.get(_ERRORS_STAGE),
        "largest_group_by_stage": largest,
        "peak_worker_rss_mb": round(max(peaks.values()), 1) if peaks else None,
        "errors_bytes": size,
        "errors_sha256": sha256,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.runner}: {args.rows:,} error rows in {wall:.1f} s; errors.jsonl {size:,} bytes, sha256 "
        f"{sha256[:12]}, the one-sort file, one row per manifest path"
    )
    print(f"most rows one worker held writing errors.jsonl: {largest.get(_ERRORS_STAGE)}")
    for stage, most in sorted(largest.items()):
        print(f"  largest group of {stage}: {most:,}")
    if peaks:
        print(f"most memory one SDK worker used: {max(peaks.values()):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
