import pytest

from transforms.split import is_valid_split_name
from transforms.split import seeded_hash
from transforms.split import split_counts


def test_seeded_hash_is_stable_and_seeded():
    assert seeded_hash(0, "ants/1.jpg") == seeded_hash(0, "ants/1.jpg")
    assert seeded_hash(0, "ants/1.jpg") != seeded_hash(1, "ants/1.jpg")
    assert 0 <= seeded_hash(0, "x") < 2**64


def test_seeded_hash_known_value():
    import hashlib
    expected = int.from_bytes(hashlib.blake2b(b"ants/1.jpg", digest_size=8, key=b"0",
                                              person=b"place").digest(), "big")
    assert seeded_hash(0, "ants/1.jpg") == expected
    assert seeded_hash(0, "ants/1.jpg", b"order") != expected


@pytest.mark.parametrize("n,v,t,expected", [
    (100, 0.1, 0.1, (80, 10, 10)), (7, 0.2, 0.0, (6, 1, 0)), (1, 0.4, 0.4, (1, 0, 0)),
    (3, 0.5, 0.5, (0, 2, 1)), (0, 0.1, 0.1, (0, 0, 0))])
def test_split_counts(n, v, t, expected):
    assert split_counts(n, v, t) == expected


def test_split_names():
    assert is_valid_split_name("train") and is_valid_split_name("val-2")
    assert not is_valid_split_name("..") and not is_valid_split_name("a/b") and not is_valid_split_name("")
