"""MXNet's own RecordIO reader and writer, from a side virtual environment.

Our RecordIO files are right only if MXNet reads them, but MXNet is retired:
1.9.1, its last release, imports only beside NumPy older than 1.24, which the
project's environment cannot hold. So the tests make a second environment
once, under .cache/mxnet-venv (git-ignored; tests/side_env.py), and run
MXNet there as a subprocess script that prints JSON.

Without a network (or python3.11) the environment cannot be made, and the
`mxnet_python` fixture skips, saying why; tests that do not use it still run.
"""

import json
import subprocess

import pytest

from tests.side_env import SideEnvironment
from tests.side_env import Unavailable  # noqa: F401 (callers catch mxnet_env.Unavailable)

_ENVIRONMENT = SideEnvironment(
    "mxnet-venv",
    (
        "mxnet==1.9.1",
        "numpy<1.24",  # MXNet 1.9.1 uses np.bool, which NumPy 1.24 removed.
        # mxnet.recordio.unpack_img decodes with cv2.imdecode; 4.7.0.72 still
        # runs on NumPy 1.23.
        "opencv-python-headless==4.7.0.72",
    ),
    "import cv2, mxnet.recordio",
    # MXNet 1.9.1's NumPy pin has wheels up to Python 3.11.
    base_python="python3.11",
)
_READ_TIMEOUT_S = 300


def ensure():
    """The side environment's python, made first if needed; raises Unavailable."""
    return _ENVIRONMENT.ensure()


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
