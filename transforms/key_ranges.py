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
keys are read as numbers (`_number`) whose digits are the characters that
vary between the page's keys, and the cut points are spread evenly between
the last key and the stop, or, with no stop, half of them at a page's span,
then four times that and so on past the last key, and half evenly to the
last number of the keys' length (the last range open). A cut point is made
of characters the keys use, so it is a valid key, and it sorts in UTF-8
byte order as it does by code points. The guesses only shape the work:
every key in (a, b] is in exactly one range, whatever the cut points. A
range that is still not done after a page is cut again, up to
`SPLIT_ROUNDS` times (a fixed number of stages: a Beam pipeline has no
loops), and then listed to its end, a page at a time.

S3 Express directory buckets (`--x-s3` names) do not list in order: they
are listed serially, as is a prefix of one page.
"""

import bisect
import dataclasses
import functools
import itertools

PAGE_KEYS = 1000  # S3's most keys a ListObjectsV2 page.
SPLIT_PARTS = 16  # Ranges a range not done after a page is cut into.
SPLIT_ROUNDS = 3  # Times a range may be cut: up to 16**3 ranges a prefix, at a page each before the last round.
# An open range (no stop) is cut a page's span past its start, then _GROWTH times that
# and so on (4**7 pages ahead for 8 cuts), and evenly to the end of its keys' numbers.
_GROWTH = 4
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
    """The range cut into at most SPLIT_PARTS ranges (one if no cut point falls
    strictly inside it), guided by `page_keys`: the keys of the page that
    ended at the range's start."""
    start, stop = key_range.start_after, key_range.stop
    bounds = [start, *_cut_points(key_range.prefix, page_keys, start, stop, SPLIT_PARTS), stop]
    return [dataclasses.replace(key_range, start_after=a, stop=b) for a, b in zip(bounds, bounds[1:])]


def _cut_points(prefix, page_keys, start, stop, parts):
    """Sorted keys strictly between `start` and `stop` (or after `start`).

    Keys are read as numbers whose digits are their characters after the
    prefix, each by its place in the alphabet the page and the bounds use
    (0 for the end of a key): the numbers keep the keys' order, and keys of
    a few characters (digits, say) are spread as evenly as their alphabet
    allows, which code points would not (after "0999" would come "099:")."""
    bounds = [key for key in (start, stop) if key is not None]
    alphabet = _alphabet(prefix, page_keys, bounds)
    width = max(len(key) - len(prefix) for key in [*page_keys, *bounds]) + 1
    number = functools.partial(_number, prefix, alphabet, width)
    low = number(start)
    span = max(low - number(page_keys[0]), 1)  # What a page of keys covered.
    if stop is not None:
        # No more ranges than the pages the range would hold at the page's density.
        pages = (number(stop) - low) * len(page_keys) // (span * PAGE_KEYS) + 1
        parts = max(1, min(parts, pages))
        steps = [low + (number(stop) - low) * j // parts for j in range(1, parts)]
    else:
        # Half the cuts a page's span past the start, then _GROWTH times that
        # and so on (a prefix of a few pages more is cut finely); the other
        # half evenly from the start to the last number of `width` digits
        # (a prefix of millions is cut where its keys are).
        near = [low + span * _GROWTH**j for j in range(parts // 2)]
        end = (len(alphabet) + 1) ** width
        even = [low + (end - low) * j // (parts - len(near)) for j in range(1, parts - len(near))]
        steps = sorted(near + even)
    cuts = []
    for step in steps:
        key = _key(prefix, alphabet, width, step)
        if key is not None and key > (cuts[-1] if cuts else start) and (stop is None or key < stop):
            cuts.append(key)
    return cuts


def _alphabet(prefix, page_keys, bounds):
    """The characters of the keys' numbers: those at the places where the
    page's keys differ (the digits of numbered keys), or, if they differ
    nowhere, all of the page's and the bounds' characters.

    Characters the keys hold only where they all agree (".jpg") would be
    digits that no key uses at the other places: most of the numbers between
    two keys would name no key, and even cuts of the numbers would be far
    from even cuts of the keys (10 million numbered keys left one range of
    83,000 after three rounds where 11,000 were the mean)."""
    varying = set()
    for column in itertools.zip_longest(*(key[len(prefix) :] for key in page_keys)):
        if len(set(column)) > 1:
            varying |= set(column) - {None}
    return sorted(varying or {c for key in [*page_keys, *bounds] for c in key[len(prefix) :]})


def _number(prefix, alphabet, width, key):
    """`key` after `prefix` as a number of `width` digits in base
    len(alphabet) + 1: a character is 1 + its place (a character not in the
    alphabet, the place it would take), a missing one 0."""
    number = 0
    for i in range(width):
        digit = 1 + bisect.bisect_left(alphabet, key[len(prefix) + i]) if len(prefix) + i < len(key) else 0
        number = number * (len(alphabet) + 1) + min(digit, len(alphabet))
    return number


def _key(prefix, alphabet, width, number):
    """The key _number gives `number` for (up to its first 0 digit); None
    past the last."""
    base = len(alphabet) + 1
    if number >= base**width:
        return None
    digits = []
    for _ in range(width):
        number, digit = divmod(number, base)
        digits.append(digit)
    digits.reverse()
    if 0 in digits:
        digits = digits[: digits.index(0)]
    return prefix + "".join(alphabet[d - 1] for d in digits)
