"""The command of Beam's PROCESS environment on EMR: a stand-in for `boot`.

Flink and Spark start one SDK worker by running the environment's command as

    COMMAND --id=WORKER_ID --provision_endpoint=HOST:PORT [--semi_persist_dir=DIR]

(Beam's ProcessEnvironmentFactory). In Beam's SDK containers COMMAND is
/opt/apache/beam/boot, a Go program that exists only inside those images. This
does the part of its work a node prepared by bootstrap.sh needs: ask the
runner's provision service for the pipeline options and the control and
logging endpoints, put them where `apache_beam.runners.worker.sdk_worker_main`
reads them (environment variables), then run that harness in this process,
so the runner's stop signal reaches the harness itself.

Unlike `boot` it installs nothing: the bootstrap action already installed
im2tfrecord and Beam into the Python this runs on, once per node instead of
once per worker. Packages a job stages (--setup_file, --requirements_file,
--extra_package) are therefore NOT installed; they are named in the log.

Run it with the Python that has im2tfrecord installed (bootstrap.sh writes a
one-line launcher for that, because the runner runs COMMAND without a shell).
"""

import argparse
import os
import runpy
import sys
import tempfile

# Not in boot's contract, and always staged by Beam's Python SDK: ignoring it is harmless.
_SUBMISSION_ENVIRONMENT_FILE = "submission_environment_dependencies.txt"
_PROVISION_TIMEOUT_S = 60
_HARNESS_MODULE = "apache_beam.runners.worker.sdk_worker_main"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", required=True)
    parser.add_argument("--provision_endpoint", required=True)
    parser.add_argument("--semi_persist_dir", default=tempfile.gettempdir())
    # Worker pools (EXTERNAL environments) also pass these; as in boot, the
    # provision service's answer wins and these are only a fallback.
    parser.add_argument("--control_endpoint", default="")
    parser.add_argument("--logging_endpoint", default="")
    parser.add_argument("--artifact_endpoint", default="")
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # A newer runner may pass more; they are not worth a failed job.
        print(f"sdk_worker: ignoring arguments {unknown}", file=sys.stderr)
    return args


def provision_info(endpoint, worker_id):
    # Imported here so that --help and argument errors stay instant.
    import grpc
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.portability.api import beam_provision_api_pb2_grpc

    with grpc.insecure_channel(endpoint) as channel:
        stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
        response = stub.GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(),
            metadata=[("worker_id", worker_id)],
            timeout=_PROVISION_TIMEOUT_S,
        )
    return response.info


def staged_names(info):
    """Names of the files the job staged for its workers."""
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    names = []
    for artifact in info.dependencies:
        if artifact.role_urn == common_urns.artifact_roles.STAGING_TO.urn:
            payload = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(artifact.role_payload)
            names.append(payload.staged_name)
    return names


def harness_environment(info, args, base_env):
    """The environment variables `sdk_worker_main` reads, as boot sets them."""
    from apache_beam.portability.api import endpoints_pb2
    from google.protobuf import json_format
    from google.protobuf import text_format

    def descriptor(url):
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    control = info.control_endpoint.url or args.control_endpoint
    if not control:
        raise SystemExit("sdk_worker: the runner gave no control endpoint")
    env = dict(base_env)
    env.update(
        {
            "WORKER_ID": args.id,
            "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
            "SEMI_PERSISTENT_DIRECTORY": args.semi_persist_dir,
            "CONTROL_API_SERVICE_DESCRIPTOR": descriptor(control),
            "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities),
        }
    )
    logging_url = info.logging_endpoint.url or args.logging_endpoint
    if logging_url:
        env["LOGGING_API_SERVICE_DESCRIPTOR"] = descriptor(logging_url)
    if info.HasField("status_endpoint"):
        env["STATUS_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(info.status_endpoint)
    for key in ("job_name", "job_id"):
        if key in info.metadata:
            env[key.upper()] = info.metadata[key]
    return env


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    info = provision_info(args.provision_endpoint, args.id)
    if info.sibling_worker_ids:
        # boot would start one harness per id; Flink and Spark never ask for
        # that, and a silently missing sibling would hang the job.
        raise SystemExit("sdk_worker: sibling workers are not supported")
    ignored = [name for name in staged_names(info) if name != _SUBMISSION_ENVIRONMENT_FILE]
    if ignored:
        print(
            f"sdk_worker: staged files are not installed on EMR workers: {ignored}; "
            "install what the job needs with bootstrap.sh",
            file=sys.stderr,
        )
    os.environ.update(harness_environment(info, args, os.environ))
    # The harness runs in this process (as boot's exec would, the runner's
    # stop signal reaches the harness itself), without a second interpreter
    # start, and without the modules a job on S3 or disk never uses (a
    # second or so of every worker's start-up).
    if "gs://" not in os.environ["PIPELINE_OPTIONS"]:
        from pipeline import block_unneeded_imports

        block_unneeded_imports()
    runpy.run_module(_HARNESS_MODULE, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
