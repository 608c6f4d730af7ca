import pytest

from transforms.formats import tfrecord


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


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: d[:-2], "truncated record at byte 21"),
        (lambda d: d[: 21 + 7], "truncated record header at byte 21"),
        (lambda d: d[:21] + bytes([d[21] ^ 1]) + d[22:], "corrupt record length at byte 21"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "corrupt record data at byte 21"),
    ],
)
def test_damage_is_named_with_its_offset(damage, message):
    # Two records of 5 bytes: the second starts at 12 + 5 + 4 = 21.
    data = tfrecord.frame(b"first") + tfrecord.frame(b"other")
    with pytest.raises(ValueError) as damaged:
        list(tfrecord.read_records(damage(data)))
    assert str(damaged.value) == message
