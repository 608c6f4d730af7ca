import apache_beam as beam
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from tests.beam_util import local_pipeline
from tests.records import jpeg_bytes
from transforms.beam_writer.decode import DecodeAndResize
from transforms.converting import Concurrency
from transforms.imaging import ImageSettings


def test_decodes_from_s3_and_reports_read_errors(s3_client, s3_settings, bucket):
    for n in range(20):
        s3_client.put_object(Bucket=bucket, Key=f"in/a/{n}.jpg", Body=jpeg_bytes((300, 200)))
    settings = s3_settings
    keyed = [("a", f"s3://{bucket}/in/a/{n}.jpg") for n in range(20)]
    keyed.append(("a", f"s3://{bucket}/in/a/missing.jpg"))
    with local_pipeline() as p:
        decoded = (
            p
            | beam.Create(keyed)
            | DecodeAndResize(f"s3://{bucket}/in", ImageSettings(image_size=100), settings, Concurrency(4, 2))
        )
        assert_that(
            decoded.images | beam.Map(lambda d: (d.relative_path, d.image.width, d.image.height)),
            equal_to([(f"a/{n}.jpg", 150, 100) for n in range(20)]),
            label="images",
        )
        assert_that(
            decoded.errors | beam.Map(lambda e: (e["path"].rsplit("/", 1)[1], e["stage"], e["reason"])),
            equal_to([("missing.jpg", "read", "read_error")]),
            label="errors",
        )
