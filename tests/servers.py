"""Local servers for tests and benchmarks, as real processes on 127.0.0.1:
moto's S3 server, and any other command that listens on a port it is given."""

import os
import socket
import subprocess
import sys
import time

_START_TIMEOUT_S = 30


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


def stop_server(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
