"""One S3 prefix listed in parallel, by ranges of its keys.

Why: S3 lists at most 1,000 keys a request, each request after the last
(a continuation token), so one folder of 10 million keys is 10,000 requests
in a row: 17 to 70 minutes of one worker at 100 to 400 ms a page. But a
listing may start anywhere (`StartAfter`), and general-purpose buckets list
keys in UTF-8 byte order, so the keys after a page can be cut into ranges
(a, b] that different workers list at the same time.

A range lists one page from its start. If that page does not reach its
stop, what is left (from the page's last key to the stop) is cut into
`SPLIT_PARTS` ranges whose cut points are guessed from the page itself:
keys are read as numbers (`_Places`) whose digits are the characters that
vary between the page's keys (a stem they all share, "n01440764_", and a
suffix, ".jpg", stay as they are), and the cut points are spread evenly
between the last key and the stop, or, with no stop, half of them at a
page's span, then four times that and so on past the last key, half evenly
to the last number of the keys' length, and a few past every key of the
page's stem ("cat_": the "dog_" keys after them are cut in the next round).
A cut point is made of characters the keys use (those past a stem end in a
code point a little past one of the stem's), so it is a valid key, and it
sorts in UTF-8 byte order as it does by code points. The guesses only
shape the work (`bench/bench_listing.py --shapes` counts it for names of
several shapes): every key in (a, b] is in exactly one range, whatever the
cut points. A range that is still not done after a page is cut again, up to
`SPLIT_ROUNDS` times (a fixed number of stages: a Beam pipeline has no
loops), and then listed to its end, a page at a time.

S3 Express directory buckets (`--x-s3` names) do not list in order: they
are listed serially, as is a prefix of one page.
"""

import bisect
import dataclasses
import itertools
import math
import os

PAGE_KEYS = 1000  # S3's most keys a ListObjectsV2 page.
SPLIT_PARTS = 16  # Ranges a range not done after a page is cut into.
SPLIT_ROUNDS = 3  # Times a range may be cut: about 16**3 ranges a prefix, at a page each before the last round.
# An open range (no stop) is cut a page's span past its start, then _GROWTH times that
# and so on (4**7 pages ahead for 8 cuts), and evenly to the end of its keys' numbers.
_GROWTH = 4
# Code points past a stem's first character where an open range is cut too:
# a folder's keys may have several stems (IMG_, PXL_), which no page shows.
_STEMS_AFTER = (2, 4, 8, 16)
DIRECTORY_BUCKET_SUFFIX = "--x-s3"  # S3 Express One Zone: listings are not in key order.


@dataclasses.dataclass(frozen=True)
class KeyRange:
    """The keys of `bucket` under `prefix` after `start_after` (None: from
    the first) up to and including `stop` (None: to the last)."""

    bucket: str
    prefix: str
    start_after: str = None
    stop: str = None

    def holds(self, key):
        return (self.start_after is None or key > self.start_after) and (self.stop is None or key <= self.stop)


@dataclasses.dataclass(frozen=True)
class Listed:
    """One key of a listing: its full key and size in bytes."""

    key: str
    size: int


def lists_in_order(bucket):
    """False for S3 Express directory buckets, whose listings are not sorted."""
    return not bucket.endswith(DIRECTORY_BUCKET_SUFFIX)


def list_page(client, key_range):
    """([Listed] of the range's first page, the KeyRange left after it or
    None when the range is done)."""
    kwargs = {"Bucket": key_range.bucket, "Prefix": key_range.prefix, "MaxKeys": PAGE_KEYS}
    if key_range.start_after is not None:
        kwargs["StartAfter"] = key_range.start_after
    page = client.list_objects_v2(**kwargs)
    contents = page.get("Contents", [])
    listed = [Listed(item["Key"], item["Size"]) for item in contents if key_range.holds(item["Key"])]
    if not page.get("IsTruncated") or len(listed) < len(contents) or not contents:
        return listed, None
    return listed, dataclasses.replace(key_range, start_after=contents[-1]["Key"])


def list_round(client, key_range, cut):
    """(Listed items, [KeyRange] left) of one range in one round of a listing:
    a page, and what is left cut (`cut`: every round but the last), or every
    key (the last round; a directory bucket's at once) as its pages come."""
    if not cut or not lists_in_order(key_range.bucket):
        return list_to_end(client, key_range), []
    listed, rest = list_page(client, key_range)
    return listed, split(rest, [item.key for item in listed]) if rest else []


def list_to_end(client, key_range):
    """Listed, every key in the range, page after page as each comes: the
    last round's range may hold millions of keys (a directory bucket's
    prefix all of them), so no page is kept once yielded."""
    while key_range is not None:
        page, key_range = list_page(client, key_range)
        yield from page


def split(key_range, page_keys):
    """The range cut into at most SPLIT_PARTS ranges, or with no stop up to
    len(_STEMS_AFTER) + 1 more past the page's stem (one range if no cut
    point falls strictly inside it), guided by `page_keys`: the keys of the
    page that ended at the range's start."""
    start, stop = key_range.start_after, key_range.stop
    bounds = [start, *_cut_points(key_range.prefix, page_keys, start, stop, SPLIT_PARTS), stop]
    return [dataclasses.replace(key_range, start_after=a, stop=b) for a, b in zip(bounds, bounds[1:])]


def _cut_points(prefix, page_keys, start, stop, parts):
    """Sorted keys strictly between `start` and `stop` (or after `start`).

    Keys are read as numbers (`_Places`) whose digits are their characters
    after the prefix: the numbers keep the keys' order, and keys of a few
    characters (digits, say) are spread as evenly as their characters allow,
    which code points would not (after "0999" would come "099:")."""
    bounds = [key for key in (start, stop) if key is not None]
    places = _Places.of(prefix, page_keys, bounds)
    low = places.number(start)
    span = max(low - places.number(page_keys[0]), 1)  # What a page of keys covered.
    high = places.number(stop) if stop is not None else places.end
    # No more ranges than the pages the range would hold at the page's density.
    parts = max(1, min(parts, (high - low) * len(page_keys) // (span * PAGE_KEYS) + 1))
    # With a stop, the cuts are even. With none, half of them run a page's
    # span past the start, then _GROWTH times that and so on (where keys are
    # sure to be as dense as on the page), and half go evenly to the last
    # number of the keys' length (where a range of millions has its keys).
    near = [low + span * _GROWTH**j for j in range(parts // 2)] if stop is None else []
    even = [low + (high - low) * j // (parts - len(near)) for j in range(1, parts - len(near))]
    keys = [places.key(step) for step in sorted(near + even)]
    if stop is None:
        # Past every key that starts as the page's all do ("cat_"), where no
        # number reaches: the keys after them ("dog_") are cut next round.
        keys += places.past_stem()
    cuts = []
    for key in sorted(key for key in keys if key is not None):
        if key > (cuts[-1] if cuts else start) and (stop is None or key < stop):
            cuts.append(key)
    return cuts


@dataclasses.dataclass(frozen=True)
class _Places:
    """The characters each place after `prefix` may hold in a key's number:
    a number's digit at place i is 1 + the character's index in `chars[i]`,
    0 past the key's end (a mixed-radix number, place i of base
    len(chars[i]) + 1).

    A place where the page's keys differ holds the characters that differ
    anywhere (the digits of numbered keys) and those it holds itself. A
    place where every key of the page and both bounds hold one character
    that differs nowhere ("cat_", the ".jpg" of keys of one length) holds
    that one character: such places give no cut points, and a character
    that is a digit of no other place makes no number name no key (with the
    ".jpg" as digits of every place, most numbers between two keys named
    none, and 10 million keys left a range of 83,000 where 11,000 was the
    mean; with "cat_" read as digits, no cut fell among the keys at all)."""

    prefix: str
    chars: tuple  # Per place, its characters, sorted.

    @classmethod
    def of(cls, prefix, page_keys, bounds):
        tails = [key[len(prefix) :] for key in page_keys]
        varying = set()
        for column in itertools.zip_longest(*tails):
            if len(set(column)) > 1:
                varying |= set(column) - {None}
        varying = varying or {c for key in [*page_keys, *bounds] for c in key[len(prefix) :]}
        every = [*tails, *(key[len(prefix) :] for key in bounds)]
        # The stem: what all begin with, to its last character that differs
        # nowhere ("n01440764_" of "n01440764_10026.JPEG"; none for "0000...").
        common = os.path.commonprefix(every)
        stem = max((i + 1 for i, c in enumerate(common) if c not in varying), default=0)
        chars = []
        for i in range(max(map(len, every)) + 1):
            held = {tail[i] if i < len(tail) else None for tail in every}
            fixed = len(held) == 1 and None not in held and (i < stem or not held <= varying)
            chars.append(tuple(sorted(held if fixed else varying | (held - {None}))))
        return cls(prefix, tuple(chars))

    def past_stem(self):
        """Keys past every key of the stem (the leading places of one
        character): the least such key, and keys a few code points past its
        first character (`_STEMS_AFTER`), where the stems after it may start
        (IMG_ then PXL_); [] with no stem."""
        stem = "".join(chars[0] for chars in itertools.takewhile(lambda chars: len(chars) == 1, self.chars))
        ends = [(stem[:-1], ord(stem[-1]) + 1)] if stem else []
        ends += [("", ord(stem[0]) + step) for step in _STEMS_AFTER] if stem else []
        # A key is UTF-8 (no surrogate, nothing past Unicode), and S3 echoes
        # StartAfter in XML, which has no U+FFFE or U+FFFF.
        return [
            self.prefix + head + chr(point)
            for head, point in ends
            if not 0xD800 <= point <= 0xDFFF and point not in (0xFFFE, 0xFFFF) and point <= 0x10FFFF
        ]

    @property
    def end(self):
        """One past the greatest number."""
        return math.prod(len(chars) + 1 for chars in self.chars)

    def number(self, key):
        """The number of the greatest key of these places' characters at or
        before `key` (a character a place does not hold is read as the one
        below it, and the places after as their greatest): the numbers keep
        the keys' order, equal for keys no cut point can come between."""
        tail = key[len(self.prefix) :]
        number, rest = 0, None  # rest: the digit of every place after one read down.
        for i, chars in enumerate(self.chars):
            if rest is not None:
                digit = len(chars) if rest else 0
            elif i >= len(tail):
                digit, rest = 0, False
            else:
                index = bisect.bisect_left(chars, tail[i])
                if index < len(chars) and chars[index] == tail[i]:
                    digit = index + 1
                else:  # The greatest character below it; none: the key so far.
                    digit, rest = index, bool(index)
            number = number * (len(chars) + 1) + digit
        return number

    def key(self, number):
        """The key `number` names (up to its first 0 digit); None past the last."""
        if number >= self.end:
            return None
        digits = []
        for chars in reversed(self.chars):
            number, digit = divmod(number, len(chars) + 1)
            digits.append(digit)
        digits.reverse()
        if 0 in digits:
            digits = digits[: digits.index(0)]
        return self.prefix + "".join(chars[d - 1] for chars, d in zip(self.chars, digits))
