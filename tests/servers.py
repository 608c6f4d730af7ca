"""Local servers for tests and benchmarks, as real processes on 127.0.0.1:
moto's S3 server, gofakes3's (a second, independent S3 implementation, in
Go), and any other command that listens on a port it is given."""

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

_START_TIMEOUT_S = 30

# gofakes3 (MIT), built from the Go module proxy by `go install`, with every
# Go folder under the project's git-ignored .cache/, so it is built once
# per checkout (about 30 s) and reused.
GOFAKES3_MODULE = "github.com/johannesboyne/gofakes3/cmd/gofakes3"
GOFAKES3_VERSION = "v1.2.0"
_GO_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "go")
_GOFAKES3_BIN = os.path.join(_GO_CACHE, f"gofakes3-{GOFAKES3_VERSION}")
_BUILD_TIMEOUT_S = 900
# Where Go's own installer puts it, when that is not on PATH.
_GO_FALLBACKS = ("/usr/local/go/bin/go",)


def hear_sigint():
    """Restores Python's SIGINT handler where the process ignores SIGINT: a
    process started in the background by a non-interactive shell (`make test
    &`) does, and so would every command it starts, the launchers among them
    (Beam stops a job server with SIGINT, then waits 5 s for a JVM that
    ignores it) and the commands tests press Ctrl-C on. (`timeout`, as
    .ci/run uses it, resets it too.)"""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class GoUnavailable(RuntimeError):
    """gofakes3 is not built and there is no Go toolchain to build it with
    (benchmarks catch this and skip gofakes3)."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local_server(command_for_port, log_path, extra_env=None):
    """Starts `command_for_port(port)` on a free port and waits until it
    accepts connections; returns (process, port). A failed start names the log."""
    port = free_port()
    with open(log_path, "wb") as log:  # The child keeps its own handle.
        process = subprocess.Popen(
            command_for_port(port), stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, **(extra_env or {}))
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log_path}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start in {_START_TIMEOUT_S} s; see {log_path}")


def start_moto_server(log_path, extra_env=None):
    """moto's S3 server; returns (process, endpoint URL)."""
    process, port = start_local_server(
        lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log_path, extra_env
    )
    return process, f"http://127.0.0.1:{port}"


def gofakes3_binary():
    """The path of the gofakes3 binary, built first if it is missing (under a
    lock, so concurrent callers build it once). Raises GoUnavailable without
    Go, RuntimeError (with go's output) if the build fails."""
    binary = os.path.join(_GOFAKES3_BIN, "gofakes3")
    if os.access(binary, os.X_OK):
        return binary
    os.makedirs(_GO_CACHE, exist_ok=True)
    with open(os.path.join(_GO_CACHE, "gofakes3.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file closes.
        if os.access(binary, os.X_OK):  # Built by another process meanwhile.
            return binary
        go = shutil.which("go") or next((p for p in _GO_FALLBACKS if os.access(p, os.X_OK)), None)
        if go is None:
            raise GoUnavailable(
                f"gofakes3 is not built ({binary}) and the Go toolchain (`go`) is not on PATH: "
                f"install Go 1.24 or later, then `go install {GOFAKES3_MODULE}@{GOFAKES3_VERSION}` is run here"
            )
        env = dict(
            os.environ,
            GOBIN=_GOFAKES3_BIN,
            GOPATH=os.path.join(_GO_CACHE, "path"),
            GOMODCACHE=os.path.join(_GO_CACHE, "mod"),
            GOCACHE=os.path.join(_GO_CACHE, "build"),
        )
        command = [go, "install", f"{GOFAKES3_MODULE}@{GOFAKES3_VERSION}"]
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"`{' '.join(command)}` did not finish in {_BUILD_TIMEOUT_S} s") from None
        if result.returncode != 0 or not os.access(binary, os.X_OK):
            output = (result.stdout + result.stderr).strip()[-2000:]
            raise RuntimeError(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{output}")
        return binary


def start_gofakes3_server(log_path):
    """gofakes3's S3 server, buckets in memory; returns (process, endpoint
    URL). It checks no signatures, so any credentials and region do; path-style
    addressing (botocore's default for an IP endpoint)."""
    binary = gofakes3_binary()
    process, port = start_local_server(
        lambda port: [binary, "-backend", "memory", "-host", f"127.0.0.1:{port}"], log_path
    )
    return process, f"http://127.0.0.1:{port}"


def stop_server(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


if __name__ == "__main__":
    # `python -m tests.servers gofakes3`: builds gofakes3 if missing (make test).
    if sys.argv[1:] != ["gofakes3"]:
        sys.exit("usage: python -m tests.servers gofakes3")
    print(gofakes3_binary())
