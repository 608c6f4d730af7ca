"""Planning at scale: the conversion's stages before decoding, on N synthetic
paths in C class folders (default 1,000 classes: a 10-million-image, ~1 TB S3
tree scaled down), with no image bytes, on the local runner.

Run: .venv/bin/python bench/bench_planning.py [--sizes 10000,100000,1000000]
     [--runs 3] [--classes 1000] [--validation-ratio 0.1] [--source manifest]

With --source manifest the same paths come from a CSV manifest (path,label),
written before the clock starts and read by the real ReadManifest
(transforms/manifest.py: in byte ranges of --manifest-range-bytes, each
streamed row by row, then a GroupByKey by path that finds repeated rows) in
place of the simulated listing; the stages after it are the same. Results
go to bench/results/planning-manifest.json. `--manifest-range-bytes` of the
file's size or more reads it in one range, as one worker did before ranges.

What runs is the pipeline's own code, wired by pipeline/convert/job.py's
`_match_label_split` (what every conversion and `--plan` start with):
MatchImages' KeepImages and its Spread reshuffle, KeyByLabel (each path keyed
by its parent folder), ClassNames, AssignSplits (seeded hashes; with a
validation ratio, the per-class GroupByKey that stratifies), then PlanShards
as job.py calls it (count per class, group by class, deal, group by shard),
and FoldersOfMergedClasses. It runs on Beam's FnApiRunner, as the tool does
locally (Beam 2.77's DirectRunner first tries to download Prism, which hangs
offline).

What is simulated:
- Listing. S3 is never contacted. `SyntheticListing` is MatchImages with its
  S3 listing (`_match_by_folder`: the top level, then each class folder after
  a reshuffle) replaced by generated keys: the top level yields the C class
  folders, reshuffled as the real folder patterns are, and each folder then
  yields its files' FileMetadata, where MatchAll would. Everything after that
  is MatchImages' own. bench/bench_listing.py measures listing against an S3
  server.
- The record size. EstimateRecordBytes converts a sample of 32 images; there
  are none here, so a fixed 25,000 bytes a record stands in for it (README,
  "Scale": 1 million 256 px records are about 25 GB), and shards are planned
  by size, --shard_size_mb 256.

Keys look like s3://bench-planning/images/class_0042/0042_00001234.jpg (55
characters, about an ImageNet key's length), the same length at every size,
so the shuffled bytes per path do not depend on N. Class c of C gets N // C
paths, one more if c < N % C.

Each run is a fresh process (`--child`), so its peak RSS (getrusage of the
child, through wait4) is that size's alone; reported per size: the median of
the runs' whole-process wall time, the pipeline's own time (building and
running it, Beam's import left out), CPU time and peak RSS. A size whose first
run takes longer than --long-run seconds gets that one run. Growth, from each
size to the next: time per path, and per added path (the difference of the two
sizes' medians over the difference of their paths, which leaves fixed costs
out) the pipeline's time, the process's CPU and its peak RSS, with the ratio
of each to the previous step's (1.0: linear).

What crosses the shuffle is measured in one more run (at --shuffle-size):
every GroupByKey input outside a combine (combines send per-key partial
results, not elements, where the runner lifts them, as the FnApiRunner does)
gets a branch that encodes each element with the coder Beam gives that
PCollection (a deterministic key coder, as for a GroupByKey), as a windowed
value in the global window, which is what a runner's data plane carries.
Results go to bench/results/planning.json.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from transforms import line_ranges  # noqa: E402  Beam-free: the manifest's ranges, counted here.

RESULTS = os.path.join(ROOT, "bench", "results", "planning.json")
INPUT = "s3://bench-planning/images"
# docs/performance.md, "Scale": 1 million 256 px records ~25 GB, so ~25 KB a record.
RECORD_BYTES = 25_000
_MIB = 1024 * 1024
_SHARD_SIZE_MB = 256


def class_name(c, classes):
    return f"class_{c:0{max(4, len(str(classes - 1)))}d}"


def paths_in_class(n, classes, c):
    """How many of the n paths class c of `classes` holds."""
    return n // classes + (1 if c < n % classes else 0)


def _class_folders(root, classes):
    return [(root, c) for c in range(classes)]


def _list_folder(root_and_class, n, classes):
    from apache_beam.io.filesystem import FileMetadata

    root, c = root_and_class
    name = class_name(c, classes)
    for k in range(paths_in_class(n, classes, c)):
        yield FileMetadata(f"{root}/{name}/{name[6:]}_{k:08d}.jpg", 0)


def synthetic_listing(n, classes):
    """A stand-in for job.py's MatchImages: the real one, its S3 listing
    replaced by n generated keys in `classes` folders."""
    import apache_beam as beam

    from transforms.match import MatchImages

    class SyntheticListing(MatchImages):
        def _match_by_folder(self, root):
            return (
                root
                | "ListTopLevel" >> beam.FlatMap(_class_folders, classes)
                | "SpreadFolders" >> beam.Reshuffle()
                | "MatchFolders" >> beam.FlatMap(_list_folder, n, classes)
            )

    return SyntheticListing


def write_manifest(path, n, classes):
    """A CSV manifest (path,label) of the same n synthetic paths, each labelled
    by its folder, written row by row; returns its size in bytes."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("path,label\n")
        for c in range(classes):
            name = class_name(c, classes)
            for k in range(paths_in_class(n, classes, c)):
                f.write(f"{INPUT}/{name}/{name[6:]}_{k:08d}.jpg,{name}\n")
    return os.path.getsize(path)


def _shard_size_fn():
    """A DoFn: a planned shard -> [split, index, shards, records], its size
    recorded as its stage's group size (the writer holds a shard whole)."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics

    from transforms import metrics

    class ShardSize(beam.DoFn):
        def setup(self):
            self._sizes = Metrics.distribution(
                metrics.METRICS_NAMESPACE, metrics.group_size_name("PlanShards/GroupShard")
            )

        def process(self, shard):
            records = len(list(shard[1]))
            self._sizes.update(records)
            yield [*shard[0], records]

    return ShardSize()


def _write_json(document, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f)


def _shuffle_inputs(p):
    """(label, PCollection) of every GroupByKey in `p` outside a combine."""
    import apache_beam as beam
    from apache_beam.pipeline import PipelineVisitor

    found = []

    class Visitor(PipelineVisitor):
        def visit_transform(self, applied):
            if not isinstance(applied.transform, beam.GroupByKey):
                return
            parent = applied.parent
            while parent is not None:
                if isinstance(parent.transform, (beam.CombinePerKey, beam.CombineGlobally)):
                    return
                parent = parent.parent
            found.append((applied.full_label, applied.main_inputs[next(iter(applied.main_inputs))]))

    p.visit(Visitor())
    return found


def _measure(pcoll, label):
    """pcoll -> one (label, elements, bytes): each element encoded as Beam
    encodes a GroupByKey's input, a windowed value in the global window."""
    import apache_beam as beam
    from apache_beam import coders
    from apache_beam.transforms import window

    coder = coders.registry.get_coder(pcoll.element_type)
    coder = coders.TupleCoder([coder.key_coder().as_deterministic_coder(label), coder.value_coder()])
    windowed = coders.WindowedValueCoder(coder, coders.coders.GlobalWindowCoder())
    return (
        pcoll
        | f"Size[{label}]" >> beam.Map(lambda x: (1, len(windowed.encode(window.GlobalWindows.windowed_value(x)))))
        | f"Sum[{label}]" >> beam.CombineGlobally(beam.combiners.TupleCombineFn(sum, sum))
        | f"Name[{label}]" >> beam.Map(lambda counts: [label, *counts])
    )


def _shard_lines(shard):
    """(shard key, the sha256 of its plan): each path with its split, shard
    and place in the shard, in the shard's order (the writer's)."""
    import hashlib

    (split, index, _), images = shard
    ordered = sorted(images, key=lambda image: (image.order, image.relative_path))
    digest = hashlib.sha256()
    for place, image in enumerate(ordered):
        digest.update(f"{image.path}\t{split}\t{index}\t{place}\n".encode())
    return [split, index], digest.hexdigest()


def _plan_sha256(shard_digests):
    import hashlib

    return hashlib.sha256("".join(f"{key}:{digest}\n" for key, digest in sorted(shard_digests)).encode()).hexdigest()


def simulate(
    n,
    classes,
    validation_ratio=0.1,
    test_ratio=0.0,
    shard_size_mb=_SHARD_SIZE_MB,
    record_bytes=RECORD_BYTES,
    keep_paths=False,
    measure_shuffle=False,
    manifest=None,
    manifest_range_bytes=None,
    runner_flags=(),
):
    """Runs the planning stages on n synthetic paths in `classes` folders
    (with `manifest`, a CSV of them that write_manifest wrote, read by the
    real ReadManifest instead of the simulated listing), here or on the
    runner `runner_flags` name; returns the plan: {"shards": [[split, index,
    shards, records]], "counts": [[split, label, n]], "classes", "failed",
    "skipped", "matched", "merged_classes", "plan_sha256" (of each path's
    split, shard and place in it), "largest_group" (the most items one
    grouping stage held in one group, from the job's metrics)}, with
    keep_paths "paths": [[split, index, label, path]], with measure_shuffle
    "shuffle": [[GroupByKey, elements, bytes]]."""
    from unittest import mock

    import apache_beam as beam
    from apache_beam import combiners
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.pvalue import AsSingleton
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from pipeline.convert import job
    from pipeline.convert.options import ConvertOptions
    from transforms import metrics
    from transforms.errors import ERRORS
    from transforms.label import FOLDERS
    from transforms.label import FoldersOfMergedClasses
    from transforms.match import MATCHED
    from transforms.match import SKIPPED
    from transforms.shard import PlanShards
    from transforms.shard import parse_num_shards
    from transforms.storage import s3_settings

    flags = ["--input", INPUT, "--output", "/nonexistent/never-written", "--shard_size_mb", str(shard_size_mb)]
    flags += ["--validation_ratio", str(validation_ratio), "--test_ratio", str(test_ratio)]
    flags += ["--manifest", manifest] if manifest else []
    flags += ["--manifest_range_bytes", str(manifest_range_bytes)] if manifest_range_bytes else []
    options = PipelineOptions([*flags, *runner_flags])
    convert = options.view_as(ConvertOptions)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "plan.json")
        p = beam.Pipeline(runner=None if runner_flags else FnApiRunner(), options=options)
        with mock.patch.object(job, "MatchImages", synthetic_listing(n, classes)):
            matched, keyed, class_names, split = job._match_label_split(p, convert, s3_settings(options))
        placed = split["placed"]
        # Stands in for EstimateRecordBytes, which converts sample images.
        estimate = p | "RecordBytes" >> beam.Create([record_bytes])
        shards = placed | "PlanShards" >> PlanShards(
            parse_num_shards(convert.num_shards), convert.shard_size_mb * _MIB, estimate
        )
        merged = keyed[FOLDERS] | "FoldersOfMergedClasses" >> FoldersOfMergedClasses()
        sides = {
            "shards": shards | "ShardSizes" >> beam.ParDo(_shard_size_fn()) | "AllShards" >> combiners.ToList(),
            "plan_sha256": shards
            | "ShardDigests" >> beam.Map(_shard_lines)
            | "AllDigests" >> combiners.ToList()
            | "PlanDigest" >> beam.Map(_plan_sha256),
            "counts": placed
            | "SplitAndClass" >> beam.Map(lambda image: (image.split, image.label))
            | "CountClasses" >> combiners.Count.PerElement()
            | "AllCounts" >> combiners.ToList(),
            "classes": class_names,
            "failed": (matched[ERRORS], keyed[ERRORS], split[ERRORS])
            | "PlanErrors" >> beam.Flatten()
            | "CountFailed" >> combiners.Count.Globally(),
            "skipped": matched[SKIPPED] | "CountSkipped" >> combiners.Count.Globally(),
            "matched": matched[MATCHED],
            "merged_classes": merged,
        }
        if keep_paths:
            sides["paths"] = (
                shards
                | "ShardPaths"
                >> beam.FlatMap(lambda shard: [[*shard[0][:2], image.label, image.path] for image in shard[1]])
                | "AllPaths" >> combiners.ToList()
            )
        if measure_shuffle:
            measured = [_measure(pcoll, label) for label, pcoll in _shuffle_inputs(p)]
            sides["shuffle"] = tuple(measured) | "AllShuffles" >> beam.Flatten() | "Shuffles" >> combiners.ToList()
        names = list(sides)

        def document(_, *values):
            plan = dict(zip(names, values))
            plan["counts"] = sorted([*key, count] for key, count in plan["counts"])
            for key in ("shards", "paths", "shuffle"):
                if key in plan:
                    plan[key] = sorted(plan[key])
            return plan

        (
            p
            | "Plan" >> beam.Create([None])
            | "Document" >> beam.Map(document, *(AsSingleton(sides[name]) for name in names))
            | "WritePlan" >> beam.Map(_write_json, path)
        )
        result = p.run()
        result.wait_until_finish()
        with open(path, encoding="utf-8") as f:  # Written by a worker: this machine's clusters share its disk.
            plan = json.load(f)
    sizes = result.metrics().query(MetricsFilter().with_namespace(metrics.METRICS_NAMESPACE))["distributions"]
    largest = {}
    for size in sizes:
        name = size.key.metric.name
        if name.startswith(metrics.GROUP_SIZE_PREFIX):
            value = size.committed if size.committed is not None else size.attempted
            if value is not None and value.count:
                stage = name[len(metrics.GROUP_SIZE_PREFIX) :]
                largest[stage] = max(largest.get(stage, 0), value.max)
    plan["largest_group_by_stage"] = largest
    plan["largest_group"] = max(largest.values(), default=0)
    return plan


def _child(args, runner_flags):
    """One run in this process (the launcher, with `runner_flags` for a
    cluster): prints its timings and plan summary as JSON."""
    import apache_beam  # noqa: F401  Imported before the clock starts: Beam's import is no part of planning.
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner  # noqa: F401

    from pipeline.convert import job  # noqa: F401

    with tempfile.TemporaryDirectory() as folder:
        manifest, ranges = None, None
        if args.source == "manifest":  # Written before the clock starts: a user's manifest exists already.
            manifest = os.path.join(folder, "labels.csv")
            size = write_manifest(manifest, args.child, args.classes)
            ranges = len(line_ranges.byte_ranges(size, args.manifest_range_bytes))
        started = time.monotonic()
        plan = simulate(
            args.child,
            args.classes,
            validation_ratio=args.validation_ratio,
            measure_shuffle=args.measure_shuffle,
            manifest=manifest,
            manifest_range_bytes=args.manifest_range_bytes,
            runner_flags=runner_flags,
        )
        seconds = time.monotonic() - started
    assert sum(count for *_, count in plan["counts"]) == args.child, "a path was lost or doubled"
    print(
        json.dumps(
            {
                "pipeline_s": seconds,
                "shards": {split: sum(1 for s in plan["shards"] if s[0] == split) for split, *_ in plan["shards"]},
                "records": sum(s[3] for s in plan["shards"]),
                "classes": len(plan["classes"]),
                "shuffle": plan.get("shuffle"),
                "plan_sha256": plan["plan_sha256"],
                "largest_group": plan["largest_group"],
                "largest_group_by_stage": plan["largest_group_by_stage"],
                "manifest_ranges": ranges,
            }
        )
    )


# What the SDK workers of this project's clusters run (PROCESS workers:
# runners/emr/sdk_worker.py, through .cache/clusters/<engine>/sdk-worker).
_SDK_WORKER_MARK = b"sdk_worker"


def sample_sdk_workers(peaks, done):
    """Until `done` is set, every 0.2 s: each running SDK worker's resident
    memory (MB) into `peaks`, pid -> the most seen."""
    while not done.wait(0.2):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if _SDK_WORKER_MARK not in f.read():
                        continue
                with open(f"/proc/{pid}/status") as f:
                    rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
            except (OSError, StopIteration, ValueError):
                continue  # Gone meanwhile.
            peaks[pid] = max(peaks.get(pid, 0), rss)


def add_runner_argument(parser, child_flag):
    """--runner local|flink|spark, for a bench whose runs are children given
    `child_flag`; in a child (whose --runner is Beam's: FlinkRunner, ...)
    the bench's own is --bench-runner."""
    child = child_flag in sys.argv[1:]
    parser.add_argument(
        "--runner" if not child else "--bench-runner",
        dest="runner",
        choices=("local", "flink", "spark"),
        default="local",
        help="local: Beam's FnApiRunner in the child process; flink, spark: this clone's cluster "
        "(runners/<runner>/cluster.sh start first), through runners/<runner>/run.sh",
    )


def child_command(runner, script, child_args):
    """(command, environment) of a child run of `script`: here for the local
    runner, else through runners/<runner>/run.sh, whose launcher runs the
    script instead of `-m pipeline`, with the runner's flags."""
    env = dict(os.environ)
    if runner == "local":
        return [sys.executable, os.path.abspath(script), *child_args], env
    env.update(PYTHON=sys.executable, IM2TFRECORD_MAIN=os.path.abspath(script))
    return [os.path.join(ROOT, "runners", runner, "run.sh"), *child_args], env


def _run_child(n, args, measure_shuffle=False):
    """A fresh process for one run, on the local runner or through
    runners/<runner>/run.sh; returns its report with wall s, CPU s and peak
    RSS MB of the launcher (where the local runner's workers run) and, on a
    cluster, the most one SDK worker held (sampled from /proc)."""
    child = ["--child", str(n), "--classes", str(args.classes)]
    child += ["--validation-ratio", str(args.validation_ratio), "--source", args.source]
    child += ["--manifest-range-bytes", str(args.manifest_range_bytes)]
    child += ["--measure-shuffle"] if measure_shuffle else []
    command, env = child_command(args.runner, __file__, child)
    peaks, done = {}, threading.Event()
    sampler = threading.Thread(target=sample_sdk_workers, args=(peaks, done), daemon=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, env=env)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        done.set()
        sampler.join()
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(err.read().decode()[-3000:])
        out.seek(0)
        report = json.loads(out.read().decode().strip().splitlines()[-1])
    report.update(process_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_mb=usage.ru_maxrss / 1024)
    report["peak_worker_rss_mb"] = max(peaks.values(), default=report["peak_rss_mb"])
    return report


def _shuffle_table(report, n):
    rows = [{"groupbykey": label, "elements": count, "bytes": size} for label, count, size in report["shuffle"]]
    per_path = [row for row in rows if row["elements"] == n]
    return {
        "paths": n,
        "groupbykeys": rows,
        "bytes_per_path": round(sum(row["bytes"] for row in per_path) / n, 1),
        "bytes_per_path_each": {row["groupbykey"]: round(row["bytes"] / n, 1) for row in per_path},
        "other_bytes": sum(row["bytes"] for row in rows if row["elements"] != n),
    }


def _print_run(args, n, number, run):
    if args.json:
        keys = ("largest_group", "peak_worker_rss_mb", "plan_sha256", "manifest_ranges")
        summary = {"runner": args.runner, "paths": n, "classes": args.classes, **{k: run[k] for k in keys}}
        print(json.dumps({**summary, "seconds": round(run["process_s"], 2)}), flush=True)
    else:
        print(
            f"  {n:>9,} paths: run {number} {run['process_s']:.1f} s, largest group {run['largest_group']:,}, "
            f"peak worker RSS {run['peak_worker_rss_mb']:.0f} MB, plan {run['plan_sha256'][:12]}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="paths per run, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; the median is reported (default 3)")
    parser.add_argument("--classes", type=int, default=1000, help="class folders (default 1000)")
    parser.add_argument("--validation-ratio", type=float, default=0.1, help="(default 0.1)")
    parser.add_argument(
        "--long-run", type=float, default=180, help="a size whose first run takes longer gets one run (default 180 s)"
    )
    parser.add_argument(
        "--shuffle-size", type=int, default=100_000, help="paths of the run that measures the shuffle (0: none)"
    )
    parser.add_argument(
        "--source",
        choices=("folders", "manifest"),
        default="folders",
        help="folders: the simulated listing; manifest: a CSV of the same paths, read by ReadManifest "
        "(results in planning-manifest.json)",
    )
    parser.add_argument(
        "--manifest-range-bytes",
        type=int,
        default=line_ranges.RANGE_BYTES,
        help="--source manifest: the bytes of manifest each range holds; the file size or more reads it in "
        "one range, as one worker did before ranges (default: the tool's, %(default)s)",
    )
    add_runner_argument(parser, "--child")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per run: runner, paths, classes, largest_group, "
        "peak_worker_rss_mb, plan_sha256, seconds",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure-shuffle", action="store_true", help=argparse.SUPPRESS)
    args, runner_flags = parser.parse_known_args()
    if args.child is not None:
        return _child(args, runner_flags)
    if runner_flags:
        parser.error(f"unrecognized arguments: {' '.join(runner_flags)}")

    sizes = [int(size) for size in args.sizes.split(",")]
    load_before = os.getloadavg()
    rows = []
    for n in sizes:
        runs = [_run_child(n, args)]
        _print_run(args, n, 1, runs[0])
        while len(runs) < args.runs and runs[0]["process_s"] <= args.long_run:
            runs.append(_run_child(n, args))
            _print_run(args, n, len(runs), runs[-1])
        row = {"paths": n, "runs": len(runs), "shards": runs[0]["shards"], "classes": runs[0]["classes"]}
        row["plan_sha256"] = sorted({run["plan_sha256"] for run in runs})
        row["largest_group"] = max(run["largest_group"] for run in runs)
        row["largest_group_by_stage"] = runs[0]["largest_group_by_stage"]
        for key in ("process_s", "pipeline_s", "cpu_s", "peak_rss_mb", "peak_worker_rss_mb"):
            row[key] = round(statistics.median(run[key] for run in runs), 2)
            row[f"{key}_all"] = [round(run[key], 2) for run in runs]
        row["us_per_path"] = round(row["pipeline_s"] / n * 1e6, 1)
        rows.append(row)
    shuffle = None
    if args.shuffle_size and args.runner == "local":  # Encoded in the pipeline: the same on any runner.
        shuffle = _shuffle_table(_run_child(args.shuffle_size, args, measure_shuffle=True), args.shuffle_size)
    load_after = os.getloadavg()

    growth = []
    for small, big in zip(rows, rows[1:]):
        added = big["paths"] - small["paths"]
        growth.append(
            {
                "from": small["paths"],
                "to": big["paths"],
                "paths_ratio": round(big["paths"] / small["paths"], 2),
                "pipeline_time_ratio": round(big["pipeline_s"] / small["pipeline_s"], 2),
                "time_per_path_ratio": round(big["us_per_path"] / small["us_per_path"], 2),
                # Per added path: what start-up and other fixed costs leave out.
                "us_per_added_path": round((big["pipeline_s"] - small["pipeline_s"]) / added * 1e6, 1),
                "cpu_us_per_added_path": round((big["cpu_s"] - small["cpu_s"]) / added * 1e6, 1),
                "rss_bytes_per_added_path": round((big["peak_rss_mb"] - small["peak_rss_mb"]) * _MIB / added, 1),
            }
        )
    for before, after in zip(growth, growth[1:]):
        for key in ("us_per_added_path", "cpu_us_per_added_path", "rss_bytes_per_added_path"):
            after[f"{key}_ratio_to_previous"] = round(after[key] / before[key], 2)

    report = (lambda *lines: None) if args.json else print
    report(
        f"\nplanning on the {args.runner} runner, {args.classes} classes, validation ratio {args.validation_ratio}, "
        f"shards of {_SHARD_SIZE_MB} MiB at {RECORD_BYTES} bytes a record; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    report(
        "|     paths | runs | process s | pipeline s | CPU s | us/path | peak RSS MB | worker RSS MB "
        "| largest group | shards |"
    )
    report("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        shards = ", ".join(f"{split} {count}" for split, count in sorted(row["shards"].items()))
        report(
            f"| {row['paths']:>9,} | {row['runs']} | {row['process_s']:9.1f} | {row['pipeline_s']:10.1f} | "
            f"{row['cpu_s']:5.1f} | {row['us_per_path']:7.1f} | {row['peak_rss_mb']:11.0f} | "
            f"{row['peak_worker_rss_mb']:13.0f} | {row['largest_group']:13,} | {shards} |"
        )
    for step in growth:
        ratios = ""
        if "rss_bytes_per_added_path_ratio_to_previous" in step:
            ratios = (
                f"\n    against the previous step: {step['us_per_added_path_ratio_to_previous']:.2f}x the time, "
                f"{step['cpu_us_per_added_path_ratio_to_previous']:.2f}x the CPU, "
                f"{step['rss_bytes_per_added_path_ratio_to_previous']:.2f}x the RSS per added path"
            )
        report(
            f"{step['from']:,} -> {step['to']:,} paths ({step['paths_ratio']:g}x): pipeline time "
            f"{step['pipeline_time_ratio']:.2f}x, time per path {step['time_per_path_ratio']:.2f}x; per added path "
            f"{step['us_per_added_path']:.0f} us, {step['cpu_us_per_added_path']:.0f} us CPU, "
            f"{step['rss_bytes_per_added_path']:.0f} bytes of RSS" + ratios
        )
    if shuffle:
        report(f"\nshuffled, measured on {shuffle['paths']:,} paths (encoded as windowed values):")
        for row in shuffle["groupbykeys"]:
            report(
                f"  {row['groupbykey']}: {row['elements']:,} elements, {row['bytes']:,} bytes "
                f"({row['bytes'] / row['elements']:.1f} per element)"
            )
        report(
            f"  per path: {shuffle['bytes_per_path']:.1f} bytes in all (GroupByKeys of one element per path), "
            f"plus {shuffle['other_bytes']:,} bytes of folder names"
        )

    machine = {
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    with contextlib.suppress(ImportError):
        import apache_beam

        machine["beam"] = apache_beam.__version__
    settings = {
        "classes": args.classes,
        "validation_ratio": args.validation_ratio,
        "shard_size_mb": _SHARD_SIZE_MB,
        "record_bytes": RECORD_BYTES,
        "runs": args.runs,
        "long_run_s": args.long_run,
        "runner": args.runner,
        "manifest_range_bytes": args.manifest_range_bytes,
    }
    settings["source"] = args.source
    results = RESULTS.replace(
        ".json",
        ("" if args.source == "folders" else "-manifest")
        + ("" if args.runner == "local" else f"-{args.runner}")
        + ".json",
    )
    os.makedirs(os.path.dirname(results), exist_ok=True)
    with open(results, "w", encoding="utf-8") as f:
        json.dump(
            {"machine": machine, "settings": settings, "sizes": rows, "growth": growth, "shuffle": shuffle}, f, indent=2
        )
    report(f"written to {results}")


if __name__ == "__main__":
    main()
