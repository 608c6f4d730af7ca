import pytest

from tests.conftest import ACCESS_KEY
from tests.conftest import REGION
from tests.conftest import SECRET_KEY
from transforms.storage import Storage
from transforms.storage import split_s3_path


def test_split_s3_path_keeps_odd_key_characters():
    assert split_s3_path("s3://b/a/b.jpg") == ("b", "a/b.jpg")
    assert split_s3_path("s3://b/a b/c?d.jpg") == ("b", "a b/c?d.jpg")
    assert split_s3_path("s3://b/a/#1.jpg") == ("b", "a/#1.jpg")
    with pytest.raises(ValueError):
        split_s3_path("/local/path.jpg")


def test_reader_reads_s3_and_local_files(s3_client, s3_endpoint, bucket, tmp_path):
    s3_client.put_object(Bucket=bucket, Key="in/ants/a b+c%.jpg", Body=b"s3 bytes")
    local = tmp_path / "x.jpg"
    local.write_bytes(b"local bytes")
    reader = Storage({"endpoint_url": s3_endpoint, "region_name": REGION,
                          "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY})
    assert reader.read(f"s3://{bucket}/in/ants/a b+c%.jpg") == b"s3 bytes"
    assert reader.read(str(local)) == b"local bytes"
