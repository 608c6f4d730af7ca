"""The benchmarks' limit loop does exactly the work of our default conversion:
its bytes are ours, image for image, so the ratios compare like with like."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import HYMENOPTERA
from tests.conftest import NASTY
from tests.conftest import needs_hymenoptera
from tests.conftest import needs_nasty
from tests.records import save_image
from transforms import imaging

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import pillow_loop  # noqa: E402

_ROTATED = os.path.join(NASTY, "exif-samples", "jpg", "orientation")


def _photos():
    paths = sorted(os.path.join(HYMENOPTERA, "bees", name) for name in os.listdir(os.path.join(HYMENOPTERA, "bees")))
    rotated = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(_ROTATED)
        for name in names
        if name.lower().endswith(".jpg")
    )
    return paths[:12] + rotated


@needs_hymenoptera
@needs_nasty
@pytest.mark.parametrize("name", ["bicubic", "bilinear"])
def test_the_limit_loop_makes_our_bytes(name):
    settings = imaging.ImageSettings(resize_filter=name)
    photos = _photos()
    assert len(photos) >= 12 + 8  # A photo of each EXIF orientation among them.
    for path in photos:
        with open(path, "rb") as f:
            data = f.read()
        ours = imaging.convert_image(data, settings).encoded
        assert pillow_loop.convert(data, 256, pillow_loop.FILTERS[name], True) == ours, path


def test_the_phase_bench_times_every_bundle_of_a_real_run(tmp_path):
    """bench/bench_phases.py times Beam's FnApiRunner._execute_bundle (a
    private method, wrapped for measurement only): a Beam upgrade that
    renames it or its stage's name would make the bench time nothing."""
    import bench_phases

    for i in range(4):
        save_image(str(tmp_path / "in" / ("ants" if i % 2 else "bees") / f"{i}.png"), color=(60 * i, 20, 20))
    log_path = str(tmp_path / "bundles.json")
    subprocess.run(
        [sys.executable, bench_phases.__file__, "--child", log_path]
        + ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--num_shards", "2"],
        check=True,
        capture_output=True,
    )
    with open(log_path) as f:
        log = json.load(f)
    assert sum(bench_phases.WRITE_STAGE in name for _, _, name in log["bundles"]) == 1, log["bundles"]
    phases = bench_phases.phases(log)
    assert all(seconds >= 0 for seconds in phases.values()), phases
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        ["labels.txt", "errors.jsonl", "duplicates.jsonl", "dataset_info.json"]
        + [f"train-0000{i}-of-00002.tfrecord" for i in range(2)]
    )


def test_runners_sweep_splits_a_job_into_its_fixed_cost_and_marginal_rate():
    import bench_runners

    # 2,000 photos in 10 s and 8,000 in 30 s: 6,000 more in 20 s more is
    # 300 images/s, and 10 s less 2,000 / 300 leaves 3.33 s whatever the size.
    rows = {"flink 2000": {"images": 2000, "seconds": 10.0}, "flink 8000": {"images": 8000, "seconds": 30.0}}
    fixed, rate = bench_runners.marginal(rows, "flink", [8000, 2000])
    assert rate == pytest.approx(300.0) and fixed == pytest.approx(10 / 3)
    # Noise larger than the extra work gives no rate, not a negative one.
    rows["flink 8000"]["seconds"] = 9.0
    with pytest.raises(ValueError):
        bench_runners.marginal(rows, "flink", [2000, 8000])
