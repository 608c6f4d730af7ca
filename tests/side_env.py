"""Virtual environments beside the project's, for tools it cannot hold.

MXNet 1.9.1 needs a NumPy older than the project's (tests/mxnet_env.py); the
AWS CLI v1 pins its own botocore (bench/bench_upload.py compares uploads
with `aws s3 sync`). Each is made once under .cache/<name> (git-ignored)
with pip, checked by importing it, and stamped with the requirements it
holds: a later session reuses it, and a change of requirements rebuilds it.
Without a network (or the Python it needs) it cannot be made: `ensure`
raises Unavailable, saying why, and the caller skips what needs it.
"""

import fcntl
import os
import shutil
import subprocess
import sys

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# pip waits this long per request and retries once: offline, the answer
# comes in about a minute instead of pip's default of several.
_PIP_TIMEOUT_S = 20
_INSTALL_TIMEOUT_S = 900


class Unavailable(Exception):
    """The side environment cannot be made here (no network, no Python)."""


class SideEnvironment:
    """`requirements` installed into .cache/`name` with `base_python`;
    `check`, Python code run there, must import what they provide."""

    def __init__(self, name, requirements, check, base_python="python3.11"):
        self.venv = os.path.join(_ROOT, ".cache", name)
        self.requirements = tuple(requirements)
        self.check = check
        self.base_python = base_python
        self.python = os.path.join(self.venv, "bin", "python")
        self._stamp = os.path.join(self.venv, "im2tfrecord-requirements.txt")
        self._made = None  # (python, None) or (None, Unavailable), once per process.

    def ensure(self):
        """The environment's python, made first if needed; raises Unavailable."""
        if self._made is None:
            try:
                self._made = (self._make(), None)
            except Unavailable as e:
                self._made = (None, e)
        python, error = self._made
        if error:
            raise error
        return python

    def bin(self, program):
        """The path of a program the environment installed (`aws`)."""
        return os.path.join(self.venv, "bin", program)

    def _make(self):
        os.makedirs(os.path.dirname(self.venv), exist_ok=True)
        # Test sessions running at once share the environment: one makes it.
        with open(self.venv + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            wanted = "\n".join(self.requirements) + "\n"
            if _read(self._stamp) == wanted:
                return self.python
            shutil.rmtree(self.venv, ignore_errors=True)
            version = self.base_python.removeprefix("python")
            same = f"{sys.version_info[0]}.{sys.version_info[1]}" == version
            base = shutil.which(self.base_python) or (sys.executable if same else None)
            if base is None:
                raise Unavailable(f"no {self.base_python} to make {self.venv}")
            _run([base, "-m", "venv", self.venv], f"{self.base_python} -m venv")
            _run(
                [
                    self.python,
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--timeout",
                    str(_PIP_TIMEOUT_S),
                    "--retries",
                    "1",
                    *self.requirements,
                ],
                f"pip install {' '.join(self.requirements)}",
            )
            # An install that cannot import is a broken set-up, not a missing network.
            check = subprocess.run([self.python, "-I", "-c", self.check], capture_output=True, text=True, cwd=self.venv)
            if check.returncode:
                raise RuntimeError(f"{self.requirements} installed in {self.venv} but do not import:\n{check.stderr}")
            with open(self._stamp, "w", encoding="utf-8") as f:
                f.write(wanted)
        return self.python


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _run(command, what):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{what} took over {_INSTALL_TIMEOUT_S} s") from None
    if result.returncode:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
        raise Unavailable(f"{what} failed: {last[0]}")
