import argparse
import os

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.command import UsageError
from pipeline.convert.job import concurrency
from pipeline.convert.job import run_description
from pipeline.convert.options import ConvertOptions


def test_options_map_to_image_settings():
    options = PipelineOptions(
        [
            "--image_size",
            "64",
            "--resize_mode",
            "fit",
            "--resize_filter",
            "lanczos",
            "--image_format",
            "png",
            "--jpeg_quality",
            "70",
            "--color",
            "grayscale",
            "--keep_original",
            "--max_pixels",
            "1000",
            "--max_seconds_per_image",
            "2.5",
        ]
    )
    settings = options.view_as(ConvertOptions).image_settings()
    assert (
        settings.image_size,
        settings.resize_mode,
        settings.resize_filter,
        settings.image_format,
        settings.jpeg_quality,
        settings.color,
        settings.keep_original,
        settings.max_pixels,
        settings.max_seconds_per_image,
    ) == (64, "fit", "lanczos", "png", 70, "grayscale", True, 1000, 2.5)


def _concurrency(*flags):
    workers = concurrency(PipelineOptions(list(flags)).view_as(ConvertOptions))
    return workers.fetch_threads, workers.decode_threads


def test_concurrency_auto_and_explicit():
    cores = os.cpu_count()
    assert _concurrency("--input", "/x") == (cores, cores)
    assert _concurrency("--input", "s3://b/p") == (max(16, cores), cores)
    assert _concurrency("--input", "/x", "--decode_threads", "3") == (3, 3)
    assert _concurrency("--input", "s3://b/p", "--fetch_threads", "40", "--decode_threads", "1") == (40, 1)
    # Never fewer readers than decoders.
    assert _concurrency("--input", "/x", "--fetch_threads", "1", "--decode_threads", "4") == (4, 4)


def _convert(*flags):
    return PipelineOptions(list(flags)).view_as(ConvertOptions)


def test_format_and_schema():
    assert (_convert().format, _convert().record_schema()) == ("tfrecord", "default")
    assert _convert("--schema", "simple").record_schema() == "simple"
    recordio = _convert("--format", "recordio")
    assert (recordio.format, recordio.record_schema()) == ("recordio", None)


def test_run_description_names_the_format_and_its_record_layout():
    options = PipelineOptions(["--input", "/x"])
    tfrecord = run_description(options.view_as(ConvertOptions), options.view_as(ConvertOptions).image_settings())
    assert (tfrecord["format"], tfrecord["schema"]) == ("tfrecord", "default")
    assert tfrecord["features"]["image/encoded"] == "bytes" and "recordio" not in tfrecord
    options = PipelineOptions(["--input", "/x", "--format", "recordio"])
    recordio = run_description(options.view_as(ConvertOptions), options.view_as(ConvertOptions).image_settings())
    assert recordio["format"] == "recordio" and "<IfQQ" in recordio["recordio"]["header"]
    assert "schema" not in recordio and "features" not in recordio


def test_resize_filter_defaults_to_bicubic():
    assert _convert().image_settings().resize_filter == "bicubic"


def test_run_description_records_the_resize_filter():
    # dataset_info.json and the resume keys (a hash of the description) both
    # come from it: shards resized with another filter are never reused.
    default = _convert("--input", "/x")
    area = _convert("--input", "/x", "--resize_filter", "area")
    assert run_description(default, default.image_settings())["image"]["resize_filter"] == "bicubic"
    assert run_description(area, area.image_settings())["image"]["resize_filter"] == "area"


def test_resize_filter_help_says_what_each_costs_and_when_to_pick_it():
    parser = argparse.ArgumentParser()
    ConvertOptions._add_argparse_args(parser)
    (action,) = [a for a in parser._actions if "--resize_filter" in a.option_strings]
    assert action.choices == ("bicubic", "bilinear", "lanczos", "area")
    for words in ("vs bicubic", "bilinear: 0.8x", "lanczos: 1.2x, sharpest", "area: 0.7x, fastest, averages"):
        assert words in " ".join(action.help.split()), words


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--writer", "beam"], "--format recordio needs the default writer"),
        (["--schema", "default"], "drop --schema"),
    ],
)
def test_recordio_refuses_what_it_cannot_do(flags, message, tmp_path):
    options = PipelineOptions(
        ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--format", "recordio", *flags]
    )
    with pytest.raises(UsageError, match=message):
        options.view_as(ConvertOptions).validate()
    assert not (tmp_path / "out").exists()  # refused before touching --output


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--jpeg_quality", "101"], "--jpeg_quality must be 1..100, got 101"),
        (["--max_pixels", "0"], "--max_pixels must be at least 1, got 0"),
        (["--min_size", "-1"], "--min_size must be 0 or more, got -1"),
        (["--max_seconds_per_image", "0"], "--max_seconds_per_image must be above 0, got 0"),
        (["--fetch_threads", "-2"], "--fetch_threads must be 0 (auto) or more, got -2"),
        (
            ["--writer", "beam", "--statistics", "stored"],
            "--writer beam keeps no statistics: drop --statistics stored, or use the default writer",
        ),
    ],
)
def test_validate_names_the_flag(flags, message):
    options = PipelineOptions(["--input", "/in", "--output", "/out", *flags])
    with pytest.raises(UsageError) as raised:
        options.view_as(ConvertOptions).validate()
    assert str(raised.value) == message


def test_shard_processes_auto_and_explicit():
    def of(*flags, local=True):
        workers = concurrency(PipelineOptions(["--input", "/x", *flags]).view_as(ConvertOptions), local=local)
        return workers.processes, workers.min_images_per_process

    cores = os.cpu_count()
    assert of() == (cores, 500)  # Big shards only: a process takes about half a second to start.
    assert of(local=False) == (1, 500)  # Flink and Spark run a worker process per slot.
    assert of("--processes", "3") == (3, 0)  # Asked for by number: every shard.
    assert of("--processes", "1") == (1, 0)
