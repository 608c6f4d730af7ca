"""Beam's worker pool for --environment_type EXTERNAL, on 127.0.0.1 only.

    python runners/worker_pool.py PORT SDK_WORKER_COMMAND

The runner asks the pool to start a worker (StartWorker) and the pool runs
SDK_WORKER_COMMAND with the worker's id and endpoints, as Beam's own
`apache_beam.runners.worker.worker_pool_main --container_executable` does.
That module listens on every interface, and a pool starts whatever harness a
caller points it at; this one is the same servicer on the loopback address,
as everything else the standalone clusters start (runners/*/cluster.sh).
"""

import sys

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor


def main(port, command):
    server = grpc.server(thread_pool_executor.shared_unbounded_instance())
    if not server.add_insecure_port(f"127.0.0.1:{port}"):
        raise SystemExit(f"worker_pool: cannot listen on 127.0.0.1:{port}")
    pool = BeamFnExternalWorkerPoolServicer(use_process=True, container_executable=command)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    print(f"worker_pool: listening on 127.0.0.1:{port}, starting {command}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python runners/worker_pool.py PORT SDK_WORKER_COMMAND")
    main(int(sys.argv[1]), sys.argv[2])
