"""The bytes of a file of sorted lines (errors.jsonl, duplicates.jsonl),
from its lines: the rule sorted_file.WriteSortedLines writes by in pieces.

Free of Beam: errors.py and duplicates.py make their lines with it, and
duplicates.py runs in the shard-writing processes, which are fresh
interpreters that import no Beam (transforms/shard_processes.py).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Line:
    """One line of the file: `key` decides its place, `text` is written
    (without its newline). Lines of equal keys are ordered by their text."""

    key: object
    text: str


def _order(line):
    """A line's place in its file."""
    return line.key, line.text


def file_bytes(lines):
    """The file's bytes from all its lines at once: what WriteSortedLines
    writes in pieces (for small files and tests)."""
    return "".join(line.text + "\n" for line in sorted(lines, key=_order)).encode("utf-8")
