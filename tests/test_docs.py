"""The README, docs/ and runners/' READMEs as a reader follows them: every relative link leads
to a file (and a heading, where it names one), and every shell block's
commands start with a command that exists here."""

import os
import re
import shlex
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [
    "README.md",
    *sorted(f"docs/{name}" for name in os.listdir(os.path.join(ROOT, "docs")) if name.endswith(".md")),
    *sorted(
        os.path.relpath(os.path.join(folder, "README.md"), ROOT)
        for folder, _, names in os.walk(os.path.join(ROOT, "runners"))
        if "README.md" in names
    ),
]

# Commands of the docs' shell blocks that are not on this machine, and why
# that is right: they run where the docs say, not here.
ELSEWHERE = {
    "aws": "the AWS CLI, on the user's machine or an EMR node",
    "docker": "building the SageMaker image, on a machine with a Docker engine",
    "sudo": "EMR's bootstrap, on an EMR node",
    "flink-yarn-session": "EMR's Flink, on the primary node",
    "spark-submit": "EMR's Spark, on the primary node",
    "yarn": "EMR's YARN, on the primary node",
    "flink": "EMR's Flink, on the primary node",
}
# Where the docs run commands installed on other machines.
ELSEWHERE_PATHS = {"/opt/im2tfrecord/": "an EMR node, where the bootstrap action installs the tool"}
SHELL_BUILTINS = {"cd", "export", "for", "do", "done", "if", "then", "fi", "source", ".", "echo", "set", "while"}

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path):
    with open(path, encoding="utf-8") as f:
        text = _FENCE.sub("", f.read())
    return {_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_resolves(page):
    path = os.path.join(ROOT, page)
    with open(path, encoding="utf-8") as f:
        text = _FENCE.sub("", f.read())
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not ours to check offline.
        file, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(resolved):
            broken.append(f"{target}: no {os.path.relpath(resolved, ROOT)}")
        elif anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(resolved, ROOT)}")
    assert not broken, f"{page}: " + "; ".join(broken)


def _commands(block):
    """The commands of a shell block: lines joined at trailing backslashes, comments and blanks left out."""
    lines = re.sub(r"\\\n", " ", block).splitlines()
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def _first_word(command):
    words = shlex.split(command, comments=True)
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        if "$(" in words[0]:  # VAR=$(command ...): the command substituted.
            return words[0].split("$(", 1)[1]
        words = words[1:]  # VAR=value before the command
    return words[0] if words else None


@pytest.mark.parametrize("page", PAGES)
def test_every_shell_block_starts_with_a_command_that_exists(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read()
    missing = []
    for language, block in _FENCE.findall(text):
        if language not in ("sh", "bash", "shell"):
            continue
        for command in _commands(block):
            word = _first_word(command)
            if word is None or word in SHELL_BUILTINS or word in ELSEWHERE:
                continue
            if any(word.startswith(prefix) for prefix in ELSEWHERE_PATHS):
                continue
            if "/" in word:
                found = os.path.exists(os.path.join(ROOT, word)) or os.path.isabs(word) and os.path.exists(word)
            else:
                found = shutil.which(word) or os.path.exists(os.path.join(ROOT, ".venv", "bin", word))
            if not found:
                missing.append(f"{word!r} in {command[:60]!r}")
    assert not missing, f"{page}: " + "; ".join(missing)


def test_the_image_extensions_read_are_the_ones_the_docs_list():
    from transforms.skipped import IMAGE_EXTENSIONS

    with open(os.path.join(ROOT, "docs", "inputs.md"), encoding="utf-8") as f:
        assert f"(`{' '.join(IMAGE_EXTENSIONS)}`, any case)" in f.read()
