from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.convert import decode_threads
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


def test_decode_threads_auto_and_explicit():
    assert decode_threads(PipelineOptions(["--input", "s3://b/p"]).view_as(ConvertOptions)) == 16
    assert decode_threads(PipelineOptions(["--input", "/x"]).view_as(ConvertOptions)) >= 2
    assert decode_threads(PipelineOptions(["--decode_threads", "3"]).view_as(ConvertOptions)) == 3
