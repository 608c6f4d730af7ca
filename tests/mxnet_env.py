"""MXNet's own RecordIO reader and writer, from a side virtual environment.

Our RecordIO files are right only if MXNet reads them, but MXNet is retired:
1.9.1, its last release, imports only beside NumPy older than 1.24, which the
project's environment cannot hold. So the tests make a second environment
once, under .cache/mxnet-venv (git-ignored), and run MXNet there as a
subprocess script that prints JSON. A stamp file written after a successful
install and import names the requirements it holds: a later session reuses
the environment, and a change of requirements rebuilds it.

Without a network (or python3.11) the environment cannot be made, and the
`mxnet_python` fixture skips, saying why; tests that do not use it still run.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys

import pytest

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
VENV = os.path.join(_ROOT, ".cache", "mxnet-venv")
REQUIREMENTS = (
    "mxnet==1.9.1",
    "numpy<1.24",  # MXNet 1.9.1 uses np.bool, which NumPy 1.24 removed.
    # mxnet.recordio.unpack_img decodes with cv2.imdecode; 4.7.0.72 still
    # runs on NumPy 1.23.
    "opencv-python-headless==4.7.0.72",
)
_STAMP = os.path.join(VENV, "im2tfrecord-requirements.txt")
_PYTHON = os.path.join(VENV, "bin", "python")
# MXNet 1.9.1's NumPy pin has wheels up to Python 3.11.
_BASE_PYTHON = "python3.11"
# pip waits this long per request and retries once: offline, the skip comes
# in about a minute instead of pip's default of several.
_PIP_TIMEOUT_S = 20
_INSTALL_TIMEOUT_S = 900
_READ_TIMEOUT_S = 300


class Unavailable(Exception):
    """The side environment cannot be made here (no network, no python3.11)."""


_made = None  # (python path, None) or (None, Unavailable), once per process.


def ensure():
    """The side environment's python, made first if needed; raises Unavailable."""
    global _made
    if _made is None:
        try:
            _made = (_make(), None)
        except Unavailable as e:
            _made = (None, e)
    python, error = _made
    if error:
        raise error
    return python


def _make():
    os.makedirs(os.path.dirname(VENV), exist_ok=True)
    # Test sessions running at once share the environment: one makes it.
    with open(VENV + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = "\n".join(REQUIREMENTS) + "\n"
        if _read(_STAMP) == wanted:
            return _PYTHON
        shutil.rmtree(VENV, ignore_errors=True)
        base = shutil.which(_BASE_PYTHON) or (sys.executable if sys.version_info[:2] == (3, 11) else None)
        if base is None:
            raise Unavailable(f"no {_BASE_PYTHON} to make {VENV}")
        _run([base, "-m", "venv", VENV], "python3.11 -m venv")
        _run(
            [
                _PYTHON,
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--timeout",
                str(_PIP_TIMEOUT_S),
                "--retries",
                "1",
                *REQUIREMENTS,
            ],
            f"pip install {' '.join(REQUIREMENTS)}",
        )
        # An install that cannot import is a broken set-up, not a missing network.
        check = subprocess.run(
            [_PYTHON, "-I", "-c", "import cv2, mxnet.recordio"], capture_output=True, text=True, cwd=VENV
        )
        if check.returncode:
            pytest.fail(f"MXNet installed in {VENV} but does not import:\n{check.stderr[-3000:]}")
        with open(_STAMP, "w", encoding="utf-8") as f:
            f.write(wanted)
    return _PYTHON


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


@pytest.fixture(scope="session")
def mxnet_python():
    """The python of the MXNet environment; skips the test when it cannot be made."""
    try:
        return ensure()
    except Unavailable as e:
        pytest.skip(f"MXNet's reader is unavailable: {e}")


# Runs in the side environment. argv[1] is a JSON request:
#   {"read": [[rec, idx], ...]}: every record of each shard, by key (the
#     .idx's order, MXIndexedRecordIO) and by scan (MXRecordIO): payload size
#     and sha256; with "images": true also the unpacked header, and the image
#     as unpack_img decodes it (shape, RGB channel means, sha256 of the RGB bytes).
#   {"write": [rec, idx], "records": [[key, label, hex image], ...]}: writes
#     them as im2rec.py does (pack, then write_idx).
#   {"list": lst, "items": [[index, path, label], ...]}: im2rec.py's write_list.
_SCRIPT = r"""
import hashlib, importlib.util, json, os, sys
import numpy as np
import mxnet as mx
from mxnet import recordio

def describe(payload, images):
    out = {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    if images:
        header, img = recordio.unpack_img(payload, -1)
        rgb = img[:, :, ::-1] if img.ndim == 3 else img  # cv2 decodes to BGR.
        out["header"] = [header.flag, float(header.label), header.id, header.id2]
        out["shape"] = list(img.shape)
        out["mean"] = rgb.reshape(-1, img.shape[2] if img.ndim == 3 else 1).mean(axis=0).tolist()
        out["pixels_sha256"] = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()
    return out

request = json.loads(sys.argv[1])
if "read" in request:
    images = request.get("images", False)
    result = {}
    for rec, idx in request["read"]:
        indexed = recordio.MXIndexedRecordIO(idx, rec, "r")
        by_key = [dict(describe(indexed.read_idx(key), images), key=key) for key in indexed.keys]
        indexed.close()
        scanner, scan = recordio.MXRecordIO(rec, "r"), []
        while True:
            payload = scanner.read()
            if payload is None:
                break
            scan.append(describe(payload, images))
        scanner.close()
        result[rec] = {"by_key": by_key, "scan": scan}
    print(json.dumps(result))
elif "write" in request:
    rec, idx = request["write"]
    writer = recordio.MXIndexedRecordIO(idx, rec, "w")
    for key, label, image in request["records"]:
        writer.write_idx(key, recordio.pack(recordio.IRHeader(0, label, key, 0), bytes.fromhex(image)))
    writer.close()
elif "list" in request:
    path = os.path.join(os.path.dirname(mx.__file__), "tools", "im2rec.py")
    spec = importlib.util.spec_from_file_location("im2rec", path)
    im2rec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(im2rec)
    im2rec.write_list(request["list"], [(i, p, l) for i, p, l in request["items"]])
"""


def run_mxnet(python, request, cwd):
    """Runs _SCRIPT with `request` in the side environment; its JSON, if any."""
    # -I and a neutral cwd: nothing of ours (or a stray module) shadows MXNet's imports.
    result = subprocess.run(
        [python, "-I", "-c", _SCRIPT, json.dumps(request)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_READ_TIMEOUT_S,
    )
    assert result.returncode == 0, f"MXNet script failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout) if result.stdout.strip() else None


def read_with_mxnet(python, shards, cwd, images=True):
    """{rec path: {"by_key": [...], "scan": [...]}} for [(rec, idx), ...], read by MXNet."""
    return run_mxnet(python, {"read": [list(map(str, pair)) for pair in shards], "images": images}, cwd)
