"""Where a local run's wall time goes, phase by phase, beside the same-work
loop: what is fixed per run (start-up, planning, the side files) and what
grows with the images (the write stage).

Run: .venv/bin/python bench/bench_phases.py [--photos small] [--runs 3]
Each round runs the loop (bench/pillow_loop.py) and im2tfrecord (8 shards)
on the same 10,000 photos as bench/bench_throughput.py, each a fresh
process; medians are printed and written to bench/results/phases-<photos>.json.

im2tfrecord runs under a wrapper that times each bundle Beam's in-process
runner executes (FnApiRunner._execute_bundle; measurement only, nothing of
the run changes): the phases are

- start-up: process start to the first bundle (Beam's import, the options,
  building the pipeline, the runner's translation of it);
- planning: the bundles before the write stage (listing, labels, splits,
  ranking and dealing the paths to shards), one core busy;
- writing: the write stage's bundle (the shard processes' start, then
  every image fetched, converted and written);
- side files: the bundles after it (duplicates, errors, statistics,
  dataset_info.json);
- exit: the last bundle's end to the process's end (the summary).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

RESULTS = os.path.join(ROOT, "bench", "results")
WRITE_STAGE = "WriteShardStreams"  # In the name of the stage that writes the shards.
PHASES = ("start-up", "planning", "writing", "side files", "exit", "whole run")


def _child(log_path, argv):
    """Runs the command as `python -m pipeline` would, timing each bundle;
    writes [(start, seconds, stage name)] and the end to `log_path`."""
    start = time.monotonic()
    import gc

    import pipeline

    # As console_main does before Beam loads (it then finds both done).
    gc.disable()
    pipeline._collector_paused = True  # start_up_done() turns the collector on again.
    pipeline._block_unneeded_imports(argv)
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    bundles = []
    original = fn_runner.FnApiRunner._execute_bundle

    def timed(self, context, bundle_context_manager, bundle_input):
        began = time.monotonic()
        try:
            return original(self, context, bundle_context_manager, bundle_input)
        finally:
            bundles.append((began - start, time.monotonic() - began, bundle_context_manager.stage.name))

    fn_runner.FnApiRunner._execute_bundle = timed
    sys.argv = ["im2tfrecord", *argv]
    try:
        code = pipeline.console_main()
    finally:
        with open(log_path, "w") as f:
            json.dump({"bundles": bundles, "end": time.monotonic() - start}, f)
    sys.exit(code)


def phases(log):
    """The phases' seconds from one run's bundle log."""
    bundles = log["bundles"]
    write_start, write_seconds, _ = next(bundle for bundle in bundles if WRITE_STAGE in bundle[2])
    first, last = bundles[0], bundles[-1]
    return {
        "start-up": first[0],
        "planning": write_start - first[0],
        "writing": write_seconds,
        "side files": last[0] + last[1] - (write_start + write_seconds),
        "exit": log["end"] - (last[0] + last[1]),
    }


def _run_ours(photos):
    with tempfile.TemporaryDirectory(prefix="im2tfrecord-phases-") as out:
        log_path = os.path.join(out, "bundles.json")
        argv = ["--input", photos, "--output", os.path.join(out, "dataset"), "--num_shards", "8"]
        started = time.monotonic()
        subprocess.run(
            [sys.executable, __file__, "--child", log_path, *argv],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        whole = time.monotonic() - started
        with open(log_path) as f:
            return {**phases(json.load(f)), "whole run": whole}


def _run_loop(photos):
    started = time.monotonic()
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "pillow_loop.py"), photos],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return _child(sys.argv[2], sys.argv[3:])
    from bench_throughput import PHOTOS
    from bench_throughput import SHARED
    from bench_throughput import linked_tree
    from bench_throughput import small_sources

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", choices=("hymenoptera", "small"), default="small")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    hymenoptera = os.path.join(SHARED, "hymenoptera")
    if args.photos == "small":
        photos = linked_tree(f"small-{PHOTOS}", [small_sources(hymenoptera)], PHOTOS)
    else:
        photos = linked_tree(f"photos-{PHOTOS}", [hymenoptera], PHOTOS)
    loops, ours = [], []
    for round_number in range(args.runs):
        loops.append(_run_loop(photos))
        ours.append(_run_ours(photos))
        print(f"round {round_number + 1}/{args.runs}: loop {loops[-1]:.2f} s, ours {ours[-1]['whole run']:.2f} s")
    medians = {phase: round(statistics.median(run[phase] for run in ours), 2) for phase in PHASES}
    loop = round(statistics.median(loops), 2)
    print(f"seconds, medians of {args.runs} ({args.photos} photos, {PHOTOS:,})")
    for phase in PHASES:
        print(f"  {phase:<12} {medians[phase]:7.2f}")
    print(f"  {'the loop':<12} {loop:7.2f}   writing / loop {medians['writing'] / loop:.2f}")
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"phases-{args.photos}.json"), "w") as f:
        json.dump({"runs": args.runs, "ours": medians, "loop": loop, "rounds": ours, "loops": loops}, f, indent=2)


if __name__ == "__main__":
    main()
