import os

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.convert import concurrency
from pipeline.options import ConvertOptions
from pipeline.options import image_settings


def test_options_map_to_image_settings():
    options = PipelineOptions([
        "--image_size", "64", "--resize_mode", "fit", "--image_format", "png", "--jpeg_quality", "70",
        "--color", "grayscale", "--keep_original", "--max_pixels", "1000"])
    settings = image_settings(options)
    assert (settings.size, settings.resize_mode, settings.image_format, settings.jpeg_quality,
            settings.color, settings.keep_original, settings.max_pixels) == (
        64, "fit", "png", 70, "grayscale", True, 1000)


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
