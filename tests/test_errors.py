import json

import apache_beam as beam

from tests.beam_util import local_pipeline
from transforms.errors import WriteErrors


def test_errors_file_is_sorted_json_lines(tmp_path):
    rows = [{"path": "b", "stage": "decode", "reason": "decode_error", "message": "é"},
            {"path": "a", "stage": "label", "reason": "no_label", "message": "m"}]
    with local_pipeline() as p:
        p | beam.Create(rows) | WriteErrors(str(tmp_path), {})
    lines = (tmp_path / "errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["a", "b"]
    assert json.loads(lines[1])["message"] == "é"


def test_no_errors_writes_an_empty_file_on_s3(s3_client, bucket, s3_flags):
    with local_pipeline(s3_flags) as p:
        from transforms.storage import s3_settings
        (p | beam.Create([]) | WriteErrors(f"s3://{bucket}/out", s3_settings(p.options)))
    body = s3_client.get_object(Bucket=bucket, Key="out/errors.jsonl")["Body"].read()
    assert body == b""
