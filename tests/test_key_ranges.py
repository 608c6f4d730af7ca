"""transforms/key_ranges.py and MatchImages on S3: one prefix listed in
ranges of its keys, cut again and again, gives exactly the keys of a serial
listing, on moto and on gofakes3 (both honour StartAfter), with keys that
are not ASCII, hold spaces, or sort right beside the cut points."""

import bisect
import random

import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to

from tests.beam_util import local_pipeline
from tests.conftest import on_both_s3_servers
from transforms import key_ranges
from transforms.key_ranges import KeyRange
from transforms.match import KEY_RANGES_LISTED
from transforms.match import MatchImages
from transforms.storage import s3_settings

PREFIX = "in/big/"


def _keys(seed, count=12):
    """Keys of one class folder as data sets name them, and odd ones."""
    rng = random.Random(seed)
    keys = {f"{PREFIX}{n:06d}.jpg" for n in rng.sample(range(10**6), count)}
    keys |= {f"{PREFIX}img {n}.jpg" for n in range(3)}  # Spaces.
    keys |= {f"{PREFIX}{name}.jpg" for name in ("é", "ü/ß", "日本", "\U0001f600", "Z", "a", "~")}
    keys |= {f"{PREFIX}000100.jpg", f"{PREFIX}000100.jpg0", f"{PREFIX}000100", f"{PREFIX}0001"}  # Neighbours.
    keys |= {f"{PREFIX}deeper/{n}.png" for n in range(3)}
    return sorted(keys)


@pytest.mark.parametrize("seed", range(20))
def test_a_cut_range_is_its_parts_in_order(seed):
    """Cut points lie strictly inside the range, in order: every key of the
    range is in exactly one part, whatever the keys."""
    keys = _keys(seed)
    rng = random.Random(seed)
    for _ in range(20):
        i = rng.randrange(len(keys) - 1)
        stop = rng.choice([None, *keys[i + 1 :]])
        page = keys[max(0, i - 5) : i + 1]
        key_range = KeyRange("b", PREFIX, keys[i], stop)
        parts = key_ranges.split(key_range, page)
        assert parts[0].start_after == keys[i] and parts[-1].stop == stop
        for a, b in zip(parts, parts[1:]):
            assert a.stop == b.start_after and a.start_after < a.stop
        for part in parts:  # (start, stop]: a key at a cut belongs to the range it ends.
            assert not part.holds(part.start_after) and (part.stop is None or part.holds(part.stop))
        for key in keys:
            assert sum(part.holds(key) for part in parts) == key_range.holds(key), key


def _held(keys, part):
    """How many of sorted `keys` the part holds, counted apart from its code."""
    stop = bisect.bisect_right(keys, part.stop) if part.stop is not None else len(keys)
    return stop - bisect.bisect_right(keys, part.start_after)


def test_digit_keys_are_cut_near_where_their_pages_end_and_evenly_beyond():
    """After a page of 000000..000999, with no stop: the first cuts run a
    page's span and four times that (the first ranges hold about a page
    each, not nothing), the others evenly to the end, so that however many
    keys follow, up to 999999, no range holds a large share of them."""
    page = [f"{PREFIX}{n:06d}.jpg" for n in range(1000)]
    parts = key_ranges.split(KeyRange("b", PREFIX, page[-1]), page)
    assert len(parts) >= key_ranges.SPLIT_PARTS // 2
    following = [f"{PREFIX}{n:06d}.jpg" for n in range(1000, 1_000_000)]
    first = following[:100_000]
    assert all(200 <= _held(first, part) <= 5_000 for part in parts[:2]), [_held(first, p) for p in parts]
    assert max(_held(following, part) for part in parts) <= len(following) // 6


def test_numbered_keys_up_to_a_stop_are_cut_evenly():
    """A range of 999,000 numbered keys, after a page of them, is cut into
    parts of nearly equal counts: the numbers are made of the digits that
    vary, not of ".jpg", which no key holds among its digits (such numbers
    put a third of their span where no key is, and unequal parts compound
    over the rounds: 10 million keys left one range of 83,000)."""
    page = [f"{PREFIX}{n:06d}.jpg" for n in range(1000)]
    following = [f"{PREFIX}{n:06d}.jpg" for n in range(1000, 1_000_000)]
    parts = key_ranges.split(KeyRange("b", PREFIX, page[-1], following[-1]), page)
    assert len(parts) == key_ranges.SPLIT_PARTS
    counts = [_held(following, part) for part in parts]
    assert sum(counts) == len(following) and max(counts) <= 1.2 * len(following) / len(parts), counts


def test_keys_after_a_stem_are_cut_among_themselves():
    """ImageNet's names share a stem of digits and letters ("n01440764_")
    that the page never varies: no cut may spend the range's numbers on
    other stems (n0..., n1...) where no key is, leaving every key in one part."""
    page = [f"{PREFIX}n01440764_{n}.JPEG" for n in range(10_000, 11_000)]
    following = [f"{PREFIX}n01440764_{n}.JPEG" for n in range(11_000, 100_000)]
    parts = key_ranges.split(KeyRange("b", PREFIX, page[-1]), page)
    assert max(_held(following, part) for part in parts) <= len(following) // 4, [
        _held(following, part) for part in parts
    ]


def test_a_range_after_a_stem_has_a_cut_past_the_stem():
    """A folder of cat_ then dog_ keys: after a page of cat_ keys, one cut
    falls past every cat_ key, so that the dog_ keys are cut in the next
    round rather than listed behind the rest of cat_ in one range."""
    page = [f"{PREFIX}cat_{n:05d}.jpg" for n in range(1000)]
    cats = [f"{PREFIX}cat_{n:05d}.jpg" for n in range(1000, 100_000)]
    dogs = [f"{PREFIX}dog_{n:05d}.jpg" for n in range(50_000)]
    parts = key_ranges.split(KeyRange("b", PREFIX, page[-1]), page)
    assert not [part for part in parts if _held(cats, part) and _held(dogs, part)]


@pytest.mark.parametrize("seed", range(5))
def test_key_numbers_keep_the_keys_order(seed):
    """A key's number never exceeds a greater key's, whatever characters the
    places hold (ones outside them are read down): cut points made from
    numbers between two keys' numbers lie between the keys."""
    rng = random.Random(seed)
    keys = _keys(seed, count=30) + [
        PREFIX + "".join(rng.choice("ab_9.é") for _ in range(rng.randrange(8))) for _ in range(60)
    ]
    keys = sorted(set(keys))
    page = keys[: len(keys) // 3]
    places = key_ranges._Places.of(PREFIX, page, [page[-1]])
    numbers = [places.number(key) for key in keys]
    assert numbers == sorted(numbers)


def test_directory_buckets_are_listed_serially():
    assert key_ranges.lists_in_order("photos")
    assert not key_ranges.lists_in_order("photos--usw2-az1--x-s3")


@on_both_s3_servers
def test_one_prefix_in_ranges_is_its_serial_listing(s3_client, bucket, s3_flags, monkeypatch):
    """Pages of 4 keys: each class folder is listed a page at a time and cut
    in rounds, then listed to its ends; the images found are the folder's."""
    monkeypatch.setattr(key_ranges, "PAGE_KEYS", 4)
    monkeypatch.setattr(key_ranges, "SPLIT_PARTS", 3)
    keys = _keys(1, count=40) + [f"in/small/{n}.jpg" for n in range(3)] + ["in/top.jpg", "other/x.jpg"]
    for key in keys:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    serial = [
        item["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="in/")
        for item in page.get("Contents", [])
    ]
    assert sorted(serial) == sorted(key for key in keys if key.startswith("in/"))
    p = local_pipeline(s3_flags)
    matched = p | MatchImages(f"s3://{bucket}/in", s3_settings(p.options))
    images = [f"s3://{bucket}/{key}" for key in serial if key.endswith((".jpg", ".png"))]
    assert_that(matched["images"], equal_to(images), label="images")
    assert_that(matched["matched"], equal_to([len(serial)]), label="matched")
    result = p.run()
    result.wait_until_finish()
    listed = result.metrics().query(MetricsFilter().with_name(KEY_RANGES_LISTED))["counters"]
    # Round 0: in/big/ (60 keys, 15 pages) and in/small/ (one page); in/big/'s
    # rest cut in 3 for round 1, and one of those cut in 3 again for round 2.
    assert sum(counter.committed for counter in listed) >= 2 + 3 + 3


def test_a_range_listed_to_its_end_yields_each_page_as_it_comes(s3_client, bucket, monkeypatch):
    """The last round's range may hold millions of keys: its first keys come
    after one request, not after the range's every page has been fetched."""
    monkeypatch.setattr(key_ranges, "PAGE_KEYS", 4)
    keys = [f"{PREFIX}{n:02d}.jpg" for n in range(10)]
    for key in keys:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    requests = []
    s3_client.meta.events.register("before-call.s3.ListObjectsV2", lambda **_: requests.append(1))
    listing = key_ranges.list_to_end(s3_client, KeyRange(bucket, PREFIX))
    first = [next(listing).key for _ in range(4)]
    assert (first, len(requests)) == (keys[:4], 1)
    assert [item.key for item in listing] == keys[4:] and len(requests) == 3
