"""The same photos on the local runner, a standalone Flink cluster and a
standalone Spark cluster, each started by the project's scripts, at two sizes
or more: what a job costs whatever its size, and how fast it converts once
it runs.

Run: .venv/bin/python bench/bench_runners.py [--runs 3] [--images 2000,8000]
About 20 minutes here. Each job is the README's command (`python -m pipeline`
for the local runner, runners/flink/run.sh and runners/spark/run.sh with
their default PROCESS workers), a fresh process timed end to end, repeated
--runs times, every runner and size once a round (interleaved); medians.
From the smallest and the largest size, per runner: the marginal rate (the
extra images over the extra seconds, a difference of medians) and the fixed
cost per job (the smallest size's time less its images at that rate); each
cluster's marginal rate as a ratio of the local runner's in the same sitting.
Cluster start-up (cluster.sh start, JVMs until every TaskManager / worker
has registered) is timed apart from the jobs; the job servers' jars are
assembled before anything is timed.

Where a cluster job's time goes: every job is run with --log_level INFO and
its stderr lines are timestamped as they arrive, which splits it into
submission (Python start-up, pipeline construction, the job server's JVM,
staging), the job on the cluster (job server RUNNING to DONE), and the end
(summary). The job on the cluster is split again from the engines' logs:
the first SDK worker up, the write stage (first to last "wrote <shard>" line
of the shards' log, transforms/shard_writer.py) and what comes after it.
Results: bench/results/runners-<layout>.json.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_throughput import SHARED  # noqa: E402
from bench_throughput import count_images  # noqa: E402
from bench_throughput import linked_tree  # noqa: E402
from images import folder_bytes  # noqa: E402

from tests.servers import hear_sigint  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
STATE = os.path.join(ROOT, ".cache", "clusters")
SHARDS = 4  # At least the clusters' 2 slots, as the README advises.
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:[,.](\d\d\d))?")  # Spark's logs: whole seconds.


def _run(args, env=None):
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def start_cluster(engine, layout):
    """Stops any cluster of this clone, then times a start; returns seconds."""
    _run([f"runners/{engine}/cluster.sh", "stop"])
    start = time.monotonic()
    _run([f"runners/{engine}/cluster.sh", "start"], env=dict(os.environ, **layout))
    return time.monotonic() - start


def job(variant, photos, out):
    """Runs one conversion; returns (seconds, phases) of it. `variant` is an
    engine, optionally with the launcher's environment variables to set:
    "flink:EXECUTION_MODE_FOR_BATCH=PIPELINED,SHIP_JARS=1"."""
    engine, _, settings = variant.partition(":")
    env = dict(os.environ, **dict(item.split("=", 1) for item in settings.split(",") if item))
    command = {
        "local": [sys.executable, "-m", "pipeline"],
        "flink": ["runners/flink/run.sh"],
        "spark": ["runners/spark/run.sh"],
    }[engine]
    args = [*command, "--input", photos, "--output", out, "--num_shards", str(SHARDS), "--log_level", "INFO"]
    marks = {}
    start = time.monotonic()
    wall_start = time.time()
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    tail = []
    for line in process.stderr:
        now = time.monotonic() - start
        tail = (tail + [line])[-40:]
        for state in ("RUNNING", "DONE"):
            if f"Job state changed to {state}" in line:
                marks.setdefault(state, now)
    if process.wait() != 0:
        raise RuntimeError(f"{variant} failed:\n{''.join(tail)}")
    seconds = time.monotonic() - start
    phases = {}
    if "RUNNING" in marks and "DONE" in marks:
        phases = {
            "submission_s": marks["RUNNING"],
            "job_s": marks["DONE"] - marks["RUNNING"],
            "end_s": seconds - marks["DONE"],
            **_cluster_phases(engine, wall_start, marks),
        }
    return seconds, phases


def _cluster_phases(engine, wall_start, marks):
    """From the engine's logs: when the first SDK worker was up and the first
    and last shard were written, as seconds after the job began running."""
    # Only logs written since the job began: an earlier day's application
    # folder would put its lines at those hours of today.
    logs = [path for path in _engine_logs(engine) if os.path.getmtime(path) >= wall_start]
    day = time.strftime("%Y-%m-%d", time.localtime(wall_start))
    running_at = wall_start + marks["RUNNING"]

    def times(pattern):
        found = []
        for path in logs:
            with open(path, errors="replace") as f:
                for line in f:
                    if pattern in line and (match := _TIME.search(line)):
                        h, m, s, ms = (int(g or 0) for g in match.groups())
                        at = time.mktime(time.strptime(f"{day} {h}:{m}:{s}", "%Y-%m-%d %H:%M:%S")) + ms / 1000
                        if at >= wall_start:
                            found.append(at - running_at)
        return sorted(found)

    harness, shards = times("Python sdk harness starting"), times("wrote train-")
    if not harness or not shards:
        return {}
    return {
        "first_sdk_worker_s": round(harness[0], 2),
        "harness_starts": len(harness),
        "first_shard_s": round(shards[0], 2),
        "last_shard_s": round(shards[-1], 2),
    }


def _engine_logs(engine):
    folder = os.path.join(STATE, engine)
    if engine == "flink":
        return [os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("taskmanager-")]
    apps = []
    for worker in os.listdir(os.path.join(folder, "work")):
        for app in sorted(os.listdir(os.path.join(folder, "work", worker))):
            for executor in os.listdir(os.path.join(folder, "work", worker, app)):
                path = os.path.join(folder, "work", worker, app, executor, "stderr")
                if os.path.exists(path):
                    apps.append(path)
    return apps


def _split_variants(text):
    """ "local,flink:A=1,B=2,spark" -> ["local", "flink:A=1,B=2", "spark"]."""
    variants = []
    for item in text.split(","):
        if "=" in item and ":" not in item and variants:
            variants[-1] += "," + item
        else:
            variants.append(item)
    return variants


def _median_phases(all_phases):
    keys = {key for phases in all_phases for key in phases}
    return {key: round(statistics.median(p[key] for p in all_phases if key in p), 2) for key in sorted(keys)}


def marginal(rows, engine, sizes):
    """(fixed seconds per job, marginal images/s) of `engine` from its rows at
    the smallest and the largest of `sizes`."""
    small, big = rows[f"{engine} {min(sizes)}"], rows[f"{engine} {max(sizes)}"]
    extra_seconds = big["seconds"] - small["seconds"]
    if extra_seconds <= 0:  # Noise larger than the extra work: no rate to give.
        raise ValueError(f"{engine}: {big['images']} images took no longer than {small['images']}")
    rate = (big["images"] - small["images"]) / extra_seconds
    return small["seconds"] - small["images"] / rate, rate


def main():
    hear_sigint()  # Or each job waits 5 s at its end for a job server that ignores SIGINT.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", default="2000,8000", help="sizes, comma-separated (default: 2000,8000)")
    parser.add_argument(
        "--engines",
        default="local,flink,spark",
        help="what to run, in order; ENGINE:VAR=VALUE,... sets the launcher's variables "
        "(e.g. flink:EXECUTION_MODE_FOR_BATCH=PIPELINED, spark:SHIP_JARS=1)",
    )
    parser.add_argument(
        "--layout",
        default="1x2",
        help="cluster shape: 1x2 (one TaskManager / worker of 2 slots, the default) or 2x1",
    )
    args = parser.parse_args()
    engines = args.engines.split(" ") if " " in args.engines else _split_variants(args.engines)
    sizes = sorted({int(n) for n in args.images.split(",")})
    nodes, slots = args.layout.split("x")
    layouts = {
        "flink": {"TASKMANAGERS": nodes, "SLOTS": slots},
        "spark": {"WORKERS": nodes, "WORKER_CORES": slots},
    }
    trees, counted = {}, {}
    for size in sizes:
        trees[size] = linked_tree(f"photos-{size}", [os.path.join(SHARED, "hymenoptera")], size)
        counted[size] = count_images(trees[size])
        print(f"photos: {trees[size]} ({counted[size]} images, {folder_bytes(trees[size]) / 1e6:.0f} MB)")
    print(f"{os.cpu_count()} cores")
    clusters = sorted({variant.partition(":")[0] for variant in engines} - {"local"})
    for engine in clusters:
        _run(["runners/job_server.sh", engine])
    startup = {}
    for engine in clusters:
        startup[engine] = round(start_cluster(engine, layouts[engine]), 2)
        print(f"{engine} cluster started in {startup[engine]:.1f} s", flush=True)
    names = [f"{engine} {size}" for size in sizes for engine in engines]
    times = {name: [] for name in names}
    phases = {name: [] for name in names}
    for round_number in range(args.runs):
        for size in sizes:
            for engine in engines:
                name = f"{engine} {size}"
                out = tempfile.mkdtemp(prefix=f"im2tfrecord-bench-{engine}-")
                try:
                    seconds, found = job(engine, trees[size], out)
                finally:
                    shutil.rmtree(out, ignore_errors=True)
                times[name].append(round(seconds, 2))
                phases[name].append(found)
                print(f"round {round_number + 1}: {name} {seconds:.1f} s {found}", flush=True)
    for engine in clusters:
        _run([f"runners/{engine}/cluster.sh", "stop"])
    rows = {}
    for name in names:
        engine, size = name.rsplit(" ", 1)
        seconds = statistics.median(times[name])
        images = counted[int(size)]
        rows[name] = {
            "images": images,
            "seconds": round(seconds, 2),
            "images_per_s": round(images / seconds, 1),
            "runs_seconds": times[name],
            "phases": _median_phases([p for p in phases[name] if p]),
            **({"cluster_start_s": startup[engine]} if engine in startup else {}),
        }
    for name, row in rows.items():
        print(f"{name:<12} {row['images_per_s']:7.1f} img/s  {row['seconds']:6.1f} s  {row['runs_seconds']}")
        if row["phases"]:
            print(f"             phases (median): {row['phases']}")
    sweep, ratios = {}, {}
    if len(sizes) > 1:
        for engine in engines:
            try:
                fixed, rate = marginal(rows, engine, sizes)
            except ValueError as e:  # The rows are still written below.
                print(f"no marginal rate: {e}", flush=True)
                continue
            sweep[engine] = {"fixed_s": round(fixed, 1), "marginal_images_per_s": round(rate, 1)}
            print(f"{engine:<6} fixed {fixed:5.1f} s a job, marginal {rate:6.1f} images/s")
        if "local" in sweep:
            local_rate = sweep["local"]["marginal_images_per_s"]
            for engine in sweep:
                if engine != "local":
                    ratios[f"{engine} / local, marginal"] = round(
                        sweep[engine]["marginal_images_per_s"] / local_rate, 2
                    )
    if "local" in engines:
        for engine in engines:
            if engine != "local":
                for size in sizes:
                    local_row = rows[f"local {size}"]
                    ratios[f"{engine} / local, {size} images"] = round(
                        rows[f"{engine} {size}"]["images_per_s"] / local_row["images_per_s"], 2
                    )
    print(json.dumps(ratios, indent=2))
    os.makedirs(RESULTS, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    with open(os.path.join(RESULTS, f"runners-{args.layout}.json"), "w") as f:
        results = {
            "machine": machine,
            "runs": args.runs,
            "layout": args.layout,
            "rows": rows,
            "sweep": sweep,
            "ratios": ratios,
        }
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
