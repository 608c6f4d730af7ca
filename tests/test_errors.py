import json

from transforms.errors import errors_file_bytes


def test_errors_file_is_sorted_json_lines():
    rows = [
        {"path": "b", "stage": "decode", "reason": "decode_error", "message": "é"},
        {"path": "a", "stage": "label", "reason": "no_label", "message": "m"},
    ]
    lines = errors_file_bytes(rows).decode("utf-8").splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["a", "b"]
    assert json.loads(lines[1])["message"] == "é"
    assert errors_file_bytes(rows) == errors_file_bytes(list(reversed(rows)))


def test_no_errors_is_an_empty_file():
    assert errors_file_bytes([]) == b""
