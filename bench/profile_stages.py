"""Where a shard's time goes, per image: cProfile over one shard written as
a worker (or a shard process) writes it, with a pool of 2 fetch threads and
2 decodes at a time, and with one read and one decode at a time in the
writing thread itself (`--decode_threads 1 --fetch_threads 1`), where the
profile sees every stage.

Run: .venv/bin/python bench/profile_stages.py [--images 1250] [--rounds 3] [--photos small]
Prints microseconds per image per stage, medians of --rounds interleaved
rounds, and writes bench/results/stages.json. cProfile's own overhead is in
every figure alike (about 1 us per Python call). "waiting for another
thread" is time the writing thread spent blocked on the pool's futures and
the GIL: with threads, the decoding thread's work shows up there.

`--against-loop`: instead, unprofiled, the whole shard written in one
thread against the same-work loop's per-image work (bench/pillow_loop.py:
read, convert) on the same images in the same process, rounds interleaved:
the ratio is what a shard process's Python around Pillow costs. Prints
seconds for all the images and per image; writes
bench/results/against-loop-<photos>.json.
"""

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_throughput import CACHE  # noqa: E402
from bench_throughput import SHARED  # noqa: E402
from bench_throughput import linked_tree  # noqa: E402
from bench_throughput import small_sources  # noqa: E402

from transforms import formats  # noqa: E402
from transforms.converting import Concurrency  # noqa: E402
from transforms.imaging import ImageSettings  # noqa: E402
from transforms.shard_stream import ShardImage  # noqa: E402
from transforms.shard_stream import ShardSettings  # noqa: E402
from transforms.shard_stream import ShardStreamWriter  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
MODES = {
    "2 threads (the default)": Concurrency(2, 2),
    "1 thread, no pool": Concurrency(1, 1),
}
# Stage -> predicate on cProfile's (file, line, function) of a function's own time.
STAGES = (
    ("decode (Pillow)", lambda f, n: n == "<method 'decode' of 'ImagingDecoder' objects>"),
    ("resize (Pillow)", lambda f, n: n == "<method 'resize' of 'ImagingCore' objects>"),
    ("encode JPEG (Pillow)", lambda f, n: n == "<method 'encode' of 'ImagingEncoder' objects>"),
    (
        "read the source file",
        lambda f, n: n in ("<built-in method io.open>", "<method 'read' of '_io.BufferedReader' objects>"),
    ),
    ("Example + TFRecord framing", lambda f, n: "example_proto" in f or "formats/tfrecord" in f or "crc32c" in n),
    ("sha256 (shard, sources, stored)", lambda f, n: "_hashlib.HASH" in n or "openssl_sha256" in n),
    # Pillow's histograms: the statistics' (their sample's NEAREST resize counts as resize) and the noise check's.
    ("histograms (statistics, noise check)", lambda f, n: n == "<method 'histogram' of 'ImagingCore' objects>"),
    ("write the shard", lambda f, n: n == "<method 'write' of '_io.BufferedWriter' objects>"),
    ("flat/noise checks", lambda f, n: "pixel_checks" in f or "numpy" in n),
    ("waiting for another thread", lambda f, n: n == "<method 'acquire' of '_thread.lock' objects>"),
)


def _shard_settings(out, fingerprint):
    """One TFRecord shard's settings, the converter's defaults, into `out`."""
    return ShardSettings(
        output=out,
        record_format=formats.get("tfrecord"),
        schema="default",
        image_settings=ImageSettings(),
        s3_client_settings={},
        fingerprint=fingerprint,
    )


def profile(mode, images, out):
    writer = ShardStreamWriter(_shard_settings(out, "profile"), MODES[mode], 1)
    profiler = cProfile.Profile()
    start = time.monotonic()
    profiler.enable()
    writer.write((("train", 0, 1), images), ["ants", "bees"])
    profiler.disable()
    seconds = time.monotonic() - start
    writer.close()
    stats = pstats.Stats(profiler).stats
    per_stage = dict.fromkeys([name for name, _ in STAGES] + ["other Python"], 0.0)
    for (file, _, function), (_, _, own, _, _) in stats.items():
        stage = next((name for name, match in STAGES if match(file, function)), "other Python")
        per_stage[stage] += own
    per_stage["whole shard (wall)"] = seconds
    return {stage: 1e6 * value / len(images) for stage, value in per_stage.items()}


def against_loop(images, rounds):
    """Seconds of one thread writing the shard, and of the loop's work on the
    same files; medians of `rounds` interleaved rounds."""
    import pillow_loop
    from PIL import Image

    def shard():
        out = tempfile.mkdtemp(prefix="im2tfrecord-profile-", dir=CACHE)
        try:
            writer = ShardStreamWriter(_shard_settings(out, "p"), MODES["1 thread, no pool"], 1)
            writer.write((("train", 0, 1), images), ["ants", "bees"])
            writer.close()
        finally:
            shutil.rmtree(out)

    def loop():
        for image in images:
            pillow_loop._convert_file((image.path, 256, Image.Resampling.BICUBIC, True))

    times = {"shard, one thread": [], "same-work loop": []}
    for round_number in range(rounds):
        order = list(times) if round_number % 2 == 0 else list(reversed(times))
        for name in order:
            start = time.perf_counter()
            (shard if name.startswith("shard") else loop)()
            times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1250)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--photos",
        choices=("hymenoptera", "small"),
        default="hymenoptera",
        help="hymenoptera's photos, or the same made small (bench_throughput.small_sources)",
    )
    parser.add_argument("--against-loop", action="store_true", help="unprofiled: the shard in one thread vs the loop")
    args = parser.parse_args()
    hymenoptera = os.path.join(SHARED, "hymenoptera")
    if args.photos == "small":
        root = linked_tree("small-10000", [small_sources(hymenoptera)], 10_000)
    else:
        root = linked_tree("photos-10000", [hymenoptera], 10_000)
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names)[: args.images]
    images = [
        ShardImage(i, os.path.relpath(p, root), p, os.path.basename(os.path.dirname(p))) for i, p in enumerate(paths)
    ]
    if args.against_loop:
        seconds = against_loop(images, args.rounds)
        ratio = seconds["shard, one thread"] / seconds["same-work loop"]
        for name, value in seconds.items():
            print(f"{name:<20} {value:7.3f} s for {len(images)} images ({1e6 * value / len(images):6.0f} us each)")
        print(f"shard / loop: {ratio:.2f} (medians of {args.rounds} interleaved rounds)")
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, f"against-loop-{args.photos}.json"), "w") as f:
            json.dump({"images": len(images), "rounds": args.rounds, "seconds": seconds, "ratio": round(ratio, 3)}, f)
        return
    runs = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            out = tempfile.mkdtemp(prefix="im2tfrecord-profile-", dir=CACHE)
            try:
                runs[mode].append(profile(mode, images, out))
            finally:
                shutil.rmtree(out)
    table = {
        mode: {stage: round(statistics.median(r[stage] for r in rounds)) for stage in rounds[0]}
        for mode, rounds in runs.items()
    }
    stages = list(next(iter(table.values())))
    print(f"{'us per image':<30}" + "".join(f"{mode:>30}" for mode in table))
    for stage in stages:
        print(f"{stage:<30}" + "".join(f"{table[mode][stage]:>30}" for mode in table))
    os.makedirs(RESULTS, exist_ok=True)
    name = "stages.json" if args.photos == "hymenoptera" else f"stages-{args.photos}.json"
    with open(os.path.join(RESULTS, name), "w") as f:
        json.dump({"images": len(images), "rounds": args.rounds, "us_per_image": table}, f, indent=2)


if __name__ == "__main__":
    main()
