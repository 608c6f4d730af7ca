"""The listing rule on local disks, one for every command (the converter,
`upload`, the pre-flight checks): what `find -L` sees, and nothing lost.

- Symlinks to files and to folders are followed at any depth, as `find -L`
  does: a symlinked class folder, or a `more/` link inside one, is read.
- A symlink to a folder that encloses it (a loop, or a link up to / or to
  any folder above the input) is not followed: it is reported once, as
  SYMLINK_LOOP, and not entered; so is a chain of links that never ends.
- Anything that cannot be listed or examined is reported as UNREADABLE.
- A symlink to nothing is reported as DANGLING_SYMLINK.
- Hidden files and folders (a name starting with ".") are listed like others;
  `is_hidden` tells the caller, which skips and counts them.

So every path `find -L` lists is yielded once (a loop's entry as the link
itself), in sorted order, and callers can account for each.
"""

import errno
import os

FILE = "file"
DANGLING_SYMLINK = "dangling_symlink"
SYMLINK_LOOP = "symlink_loop"
UNREADABLE = "unreadable"
# A path whose bytes are not UTF-8 (a name from another system's encoding):
# Python keeps such bytes as surrogates, which no UTF-8 text can hold, and
# every path crosses the job's shuffles, and is stored in its record, as
# UTF-8. The caller reports it by its `printable` form.
BAD_NAME = "bad_file_name"

MESSAGES = {
    DANGLING_SYMLINK: "symbolic link to a file or folder that does not exist",
    SYMLINK_LOOP: "symbolic link to a folder that contains it (or a chain of links that never ends); not followed",
    UNREADABLE: "cannot be listed or examined (no permission, or not on the workers' disk?)",
    BAD_NAME: "the path is not UTF-8 (its bytes not UTF-8 are shown as \\xNN): rename it",
}


def is_utf8(path):
    """True if `path` is UTF-8 text (no bytes Python kept as surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path):
    """`path` as UTF-8 text: each byte that is not UTF-8 written as \\xNN."""
    return path if is_utf8(path) else os.fsencode(path).decode("utf-8", "backslashreplace")


def walk(root):
    """Yields (path, kind) for everything below the folder `root`: FILE for a
    file (through any number of symlinks), or one of the problem kinds."""
    yield from _walk(root, {os.path.realpath(root)})


_FOLDER = "folder"


def _walk(folder, ancestors):
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        yield folder, UNREADABLE
        return
    for entry in entries:
        try:
            kind = _kind(entry)
        except OSError as e:
            kind = SYMLINK_LOOP if e.errno == errno.ELOOP else UNREADABLE
        if kind != _FOLDER:
            if kind:
                yield entry.path, kind
            continue
        real = os.path.realpath(entry.path)
        # A folder that is, or encloses, one on the way here: following it
        # would walk in a circle (or the whole disk, for a link to /).
        if any(os.path.commonpath([real, seen]) == real for seen in ancestors):
            yield entry.path, SYMLINK_LOOP
        else:
            yield from _walk(entry.path, ancestors | {real})


def _kind(entry):
    """FILE, _FOLDER (both through symlinks), DANGLING_SYMLINK, or None for
    sockets, pipes and devices, which are not files anyone converts. Raises
    OSError (ELOOP) for a chain of links that never ends."""
    if entry.is_dir():
        return _FOLDER
    if entry.is_file():
        return FILE
    if entry.is_symlink():
        try:
            os.stat(entry.path)
        except FileNotFoundError:
            return DANGLING_SYMLINK
    return None


def is_hidden(relative):
    """True if any part of a path relative to the input starts with '.'."""
    return any(part.startswith(".") for part in relative.split("/"))


def has_files(root):
    """True if `walk(root)` finds at least one file."""
    return any(kind == FILE for _, kind in walk(root))
