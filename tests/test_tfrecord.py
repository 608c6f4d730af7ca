import pytest

from transforms import tfrecord


def test_frames_read_back_with_tensorflow(tmp_path):
    import tensorflow as tf
    records = [b"", b"x", bytes(range(256)) * 100]
    path = tmp_path / "r.tfrecord"
    path.write_bytes(b"".join(tfrecord.frame(r) for r in records))
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(path))] == records
    assert list(tfrecord.read_records(path.read_bytes())) == records


def test_read_records_checks_crcs():
    data = bytearray(tfrecord.frame(b"hello"))
    data[14] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt record data"):
        list(tfrecord.read_records(bytes(data)))
    with pytest.raises(ValueError, match="truncated"):
        list(tfrecord.read_records(tfrecord.frame(b"hello")[:-2]))
