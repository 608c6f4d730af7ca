import os

from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from tests.beam_util import local_pipeline
from tests.conftest import on_both_s3_servers
from tests.records import save_image
from transforms.match import MatchImages
from transforms.skipped import has_image_extension


def test_image_extensions_in_any_case():
    for name in ("a.jpg", "a.JPEG", "a.Png", "a.gif", "a.bmp", "a.webp", "a.TIF", "a.tiff"):
        assert has_image_extension(name), name
    for name in (".DS_Store", "notes.txt", "a.jpg.bak", "a.avif", "folder/"):
        assert not has_image_extension(name), name


def test_match_images_keeps_images_at_any_depth(tmp_path):
    root = str(tmp_path)
    images = [
        save_image(os.path.join(root, "ants", "1.jpg")),
        save_image(os.path.join(root, "bees", "sub", "2.PNG"), fmt="PNG"),
    ]
    for junk in ("ants/.DS_Store", "notes.txt"):
        with open(os.path.join(root, junk), "w") as f:
            f.write("x")
    with local_pipeline() as p:
        matched = p | MatchImages(root, {})
        assert_that(matched["images"], equal_to(images), label="images")
        assert_that(
            matched["skipped"],
            equal_to(["hidden", ".txt"]),  # ants/.DS_Store, notes.txt
            label="skipped",
        )


@on_both_s3_servers
def test_match_images_on_s3_lists_each_folder(s3_client, bucket, s3_flags):
    for key in (
        "in/ants/1.jpg",
        "in/ants/sub/2.png",
        "in/bees/3.JPG",
        "in/top.jpg",
        "in/notes.txt",
        "in/",  # The marker of --input itself, as an S3 console makes it.
        "in/bees/",  # A folder marker, which gofakes3 also lists as an object of in/.
        "in/ants/sub/deeper/",
        "other/4.jpg",
    ):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    from transforms.storage import s3_settings

    with local_pipeline(s3_flags) as p:
        matched = p | MatchImages(f"s3://{bucket}/in", s3_settings(p.options))
        assert_that(
            matched["images"],
            equal_to([f"s3://{bucket}/in/{k}" for k in ("ants/1.jpg", "ants/sub/2.png", "bees/3.JPG", "top.jpg")]),
            label="images",
        )
        assert_that(
            matched["skipped"],
            equal_to([".txt", "folder marker", "folder marker", "folder marker"]),  # notes.txt, in/, bees/, deeper/
            label="skipped",
        )
