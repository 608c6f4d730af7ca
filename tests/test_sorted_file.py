"""transforms/sorted_file.py: a file of lines sorted in pieces by many
workers is the file one sort of all the lines gives, byte for byte, on disk
and on S3; no piece passes its bound; no part file is left behind."""

import os
import random

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter

from tests.beam_util import local_pipeline
from tests.conftest import ACCESS_KEY
from tests.conftest import REGION
from tests.conftest import SECRET_KEY
from transforms import metrics
from transforms import sorted_file
from transforms.sorted_lines import Line
from transforms.storage import s3_settings_from_flags


def _lines(count, seed):
    """Keys with ties and shared prefixes (as error messages have), texts
    that differ where keys tie, and non-ASCII text."""
    rng = random.Random(seed)
    words = ["a", "b", "é", "file not found: s3://b/x", "", "z" * 30]
    lines = []
    for n in range(count):
        key = rng.choice(words) + str(rng.randrange(count // 3 + 1))
        lines.append(Line(key=key, text=f'{{"k": "{key}", "n": {n}}}'))
    return lines


def _expected(lines):
    """One sort of every line by (key, text), written out here."""
    ordered = sorted(lines, key=lambda line: (line.key, line.text))
    return "".join(line.text + "\n" for line in ordered).encode("utf-8")


def _write(lines, folder, name, target, settings=None):
    """Runs WriteSortedLines; returns the largest piece it recorded."""
    pipeline = local_pipeline()
    written = (
        pipeline
        | beam.Create(lines, reshuffle=False)
        | sorted_file.WriteSortedLines(folder, name, settings, target=target)
    )
    del written
    result = pipeline.run()
    result.wait_until_finish()
    name_filter = MetricsFilter().with_name(metrics.group_size_name(name))
    sizes = result.metrics().query(name_filter)["distributions"]
    return max((d.committed.max for d in sizes), default=0)


@pytest.mark.parametrize("count", [0, 1, 2_000])
def test_lines_sorted_in_pieces_are_one_sorted_file(count, tmp_path):
    lines = _lines(count, seed=count)
    largest = _write(lines, str(tmp_path), "out.jsonl", target=100)
    with open(tmp_path / "out.jsonl", "rb") as f:
        assert f.read() == _expected(lines)
    assert os.listdir(tmp_path) == ["out.jsonl"]  # The parts are gone.
    # 2,000 lines in pieces of about 100: within twice the target.
    assert largest <= (200 if count > 100 else count)


def test_on_s3_the_file_is_the_same(s3_client, bucket, s3_endpoint, tmp_path):
    lines = _lines(3_000, seed=7)
    settings = s3_settings_from_flags(
        {
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
            "s3_region_name": REGION,
        }
    )
    _write(lines, f"s3://{bucket}/run", "errors.jsonl", target=250, settings=settings)
    keys = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["run/errors.jsonl"]
    assert s3_client.get_object(Bucket=bucket, Key="run/errors.jsonl")["Body"].read() == _expected(lines)


def test_the_count_and_sample_are_the_same_however_the_lines_are_split():
    """One combine counts the lines and samples their keys: split into
    accumulators anywhere and merged in either order, the same count and keys."""
    lines = _lines(2_000, seed=5)
    combine = sorted_file._CountAndSample(100)
    wanted = sorted(line.key for line in lines if sorted_file._sampled(line, 100))
    assert 100 < len(wanted) < 1_000  # About 16 per 100 lines: a sample, not every key.

    def fold(part):
        accumulator = combine.create_accumulator()
        for line in part:
            accumulator = combine.add_input(accumulator, line)
        return accumulator

    for cut in (0, 1, 700, 2_000):
        for halves in ((lines[:cut], lines[cut:]), (lines[cut:], lines[:cut])):
            counted = combine.extract_output(combine.merge_accumulators([fold(half) for half in halves]))
            assert counted.count == 2_000 and sorted(counted.sample) == wanted, cut


def test_boundaries_cut_a_sample_evenly():
    sample = [f"{n:04d}" for n in range(64)]
    assert sorted_file.boundaries(sample, count=400, target=100) == ["0016", "0032", "0048"]
    assert sorted_file.boundaries(sample, count=100, target=100) == []  # One piece.
    assert sorted_file.boundaries([], count=10_000, target=100) == []  # Nothing sampled: one piece.


def test_a_sample_of_random_keys_keeps_every_piece_within_twice_the_target():
    """Simulated at the real target: 3 million keys (600 pieces), sampled as
    the transform samples them; the largest piece stays within the bound."""
    rng = random.Random(3)
    count = 3_000_000
    keys = [rng.getrandbits(60) for _ in range(count)]
    sample = [key for key in keys if sorted_file._sampled(Line(key=key, text=""))]
    cuts = sorted_file.boundaries(sample, count)
    sizes = {}
    for key in keys:
        piece, _ = sorted_file._piece(Line(key=key, text=""), cuts)
        sizes[piece] = sizes.get(piece, 0) + 1
    assert len(sizes) == -(-count // sorted_file.PIECE_TARGET)
    assert max(sizes.values()) < 2 * sorted_file.PIECE_TARGET, max(sizes.values())
