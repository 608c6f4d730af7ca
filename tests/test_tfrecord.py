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


def test_iter_records_streams_in_small_reads():
    import io

    class Trickle(io.RawIOBase):  # Returns at most 3 bytes a read, as a slow socket may.
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def read(self, size=-1):
            return self._data.read(min(size, 3) if size and size > 0 else 3)

    records = [b"a" * 1000, b"", b"bc"]
    data = b"".join(tfrecord.frame(r) for r in records)
    assert list(tfrecord.iter_records(Trickle(data))) == records
    with pytest.raises(ValueError, match="truncated record at byte 1032"):
        list(tfrecord.iter_records(Trickle(data[:-3])))
