"""One dataset written by several machines at once: each writes a part of the shards.

A run with `--write_part K/N` plans the whole input, exactly as a whole run
does (placement is by each path's seeded hash, so every part plans the same
shards), and writes only the shards whose number within their split leaves
K - 1 when divided by N. Each shard it writes leaves its resume record
(resume.py), and the run leaves its marker (ownership.py) and writes no
dataset files. Once every part's files are in one --output, a run of the
same command without --write_part finishes the dataset: it reuses every
part's shards (read back in full first, as any resumed shard is), converts
any shard a part did not complete, and writes labels.txt, errors.jsonl,
duplicates.jsonl (whose groups may span parts: the records' hashes are in
the resume records) and dataset_info.json. The dataset is byte for byte the
one a single run makes.

This is how several SageMaker Processing instances make one dataset
(runners/sagemaker/entrypoint.py): each writes its part into its own output
folder, SageMaker uploads them all into one S3 prefix, and a one-instance
job finishes there.
"""

import dataclasses
import re

_PART = re.compile(r"^(\d+)/(\d+)$")


@dataclasses.dataclass(frozen=True)
class Part:
    """Part `number` (1-based) of `count`."""

    number: int
    count: int

    def holds(self, shard_index):
        """True if this part writes shard `shard_index` (0-based, within its split)."""
        return shard_index % self.count == self.number - 1

    def __str__(self):
        return f"{self.number}/{self.count}"


def parse_part(text):
    """`K/N` -> Part(K, N); ValueError with the rule when it is not one."""
    match = _PART.match(text.strip())
    if not match:
        raise ValueError(f"expected K/N, such as 1/4 (part 1 of 4), got {text!r}")
    number, count = int(match.group(1)), int(match.group(2))
    if count < 2 or not 1 <= number <= count:
        raise ValueError(f"K/N needs N of at least 2 and K from 1 to N, got {text!r}")
    return Part(number, count)
