"""The listing rule on local disks, one for every command (the converter,
`upload`, the pre-flight checks): what `find -L` sees, and nothing lost.

- Symlinks to files and to folders are followed at any depth, as `find -L`
  does: a symlinked class folder, or a `more/` link inside one, is read.
- A symlink to a folder that encloses it (a loop) is not followed forever: it
  is reported once, as SYMLINK_LOOP, and not entered.
- A symlink to nothing is reported as DANGLING_SYMLINK.
- Hidden files and folders (a name starting with ".") are listed like others;
  `is_hidden` tells the caller, which skips and counts them.

So every path `find -L` lists is yielded once (a loop's entry as the link
itself), in sorted order, and callers can account for each.
"""

import os

FILE = "file"
DANGLING_SYMLINK = "dangling_symlink"
SYMLINK_LOOP = "symlink_loop"

MESSAGES = {
    DANGLING_SYMLINK: "symbolic link to a file or folder that does not exist",
    SYMLINK_LOOP: "symbolic link to a folder that contains it; not followed",
}


def walk(root):
    """Yields (path, kind) for everything below the folder `root`: FILE for a
    file (through any number of symlinks), or one of the problem kinds."""
    yield from _walk(root, {os.path.realpath(root)})


def _walk(folder, ancestors):
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir():  # Follows symlinks.
            real = os.path.realpath(entry.path)
            if real in ancestors:
                yield entry.path, SYMLINK_LOOP
            else:
                yield from _walk(entry.path, ancestors | {real})
        elif entry.is_file():
            yield entry.path, FILE
        elif entry.is_symlink() and not os.path.exists(entry.path):
            yield entry.path, DANGLING_SYMLINK
        # Sockets, pipes and devices are not files anyone converts.


def is_hidden(relative):
    """True if any part of a path relative to the input starts with '.'."""
    return any(part.startswith(".") for part in relative.split("/"))


def has_files(root):
    """True if `walk(root)` finds at least one file."""
    return any(kind == FILE for _, kind in walk(root))
