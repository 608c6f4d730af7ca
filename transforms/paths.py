"""The path rules, in one place: which paths are URLs, how a folder and a
name join, and a path's name relative to --input (or a manifest's base).

Relative paths feed the placement hashes (split.py: each image's split,
shard and place), so the rules must never drift apart. Where they differ,
they differ on purpose, and each has its own name here:

  relative_path     strict: a listed file lies under --input, or it is a bug
                    (label.py's KeyByLabel)
  relative_or_full  lenient: a manifest may name images anywhere; those
                    outside --input keep their full path (split.py,
                    dedupe.py, --writer beam's decode.py)
  resolve           a manifest's path entry: joined to its base when
                    relative, normalised so one file has one name, and named
                    relative to the base (manifest.py)

Imports nothing else of the project's: storage.py and the stages stand on it.
"""

import os


def has_scheme(path):
    """Whether `path` is a URL (s3://, gs://, ...), not a local path."""
    return "://" in path


def is_s3(path):
    return path.startswith("s3://")


def join(folder, name):
    """`name` inside `folder`, a local folder or a URL prefix (as Beam's
    FileSystems.join joins them)."""
    if not has_scheme(folder):
        return os.path.join(folder, name)
    return folder.rstrip("/") + "/" + name


def relative_path(path, input_root):
    """`path` relative to `input_root`, with '/' separators."""
    root = input_root.rstrip("/") + "/"
    if not path.startswith(root):
        raise ValueError(f"{path!r} is not under {input_root!r}")
    return path[len(root) :]


def relative_or_full(path, input_root):
    """`path` relative to `input_root` where it lies below it, else the full
    path: a manifest may name images anywhere."""
    root = input_root.rstrip("/") + "/"
    return path[len(root) :] if path.startswith(root) else path


def resolve(path, base):
    """(full path, relative path) of a manifest's path entry, normalised
    (`a//b`, `a/./b` and `a/../a/b` are `a/b`), so that one file has one name."""
    if not has_scheme(path) and not path.startswith("/"):
        path = base.rstrip("/") + "/" + path
    if has_scheme(path):
        scheme, rest = path.split("://", 1)
        bucket, _, key = rest.partition("/")
        full = f"{scheme}://{bucket}/{_normalised(key)}"
    else:
        full = "/" + _normalised(path) if path.startswith("/") else _normalised(path)
    return full, relative_or_full(full, base)


def _normalised(path):
    """`path` without empty, `.` and `..`-cancelled parts; a `..` above the
    start stays (its image lies outside the base)."""
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)
