from pipeline.summary import RunCounts
from pipeline.summary import format_summary


def test_counts_add_up_or_say_so():
    good = RunCounts(matched=10, skipped=1, written=7, failed={"decode_error": 2})
    bad = RunCounts(matched=10, skipped=1, written=7, failed={})
    assert good.balanced and not bad.balanced
    assert "DOES NOT ADD UP" in format_summary(bad, "out", [], 1.0)


def test_summary_lines():
    counts = RunCounts(matched=10, skipped=1, written=7, per_class={"b": 3, "a": 4},
                       failed={"too_large": 1, "decode_error": 1})
    text = format_summary(counts, "s3://b/out", ["labels.txt  (4 bytes)"], 2.0)
    assert text.splitlines() == [
        "wrote 7 images in 2.0 s (3.5 images/s)",
        "  matched 10 = written 7 + failed 2 + skipped (not images) 1",
        "  per class: a 4, b 3",
        "  errors: decode_error 1, too_large 1 (one row each in errors.jsonl)",
        "  output: s3://b/out",
        "    labels.txt  (4 bytes)",
    ]


def test_summary_without_metrics():
    assert "reported no metrics" in format_summary(None, "out", [], 1.0)
