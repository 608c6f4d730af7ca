#!/usr/bin/env bash
# The pipeline on a Flink cluster through Beam's FlinkRunner: only runner
# options differ from a local run. Beam starts the Flink job server from the jar.
#   FLINK_MASTER=jobmanager:8081 runners/flink/run.sh --input s3://b/in --output s3://b/out
# ENVIRONMENT_TYPE: LOOPBACK (workers in this process: tests, one machine),
# PROCESS (the package pip-installed on every task manager; see runners/emr/) or
# DOCKER (an SDK image with the package, e.g. built FROM apache/beam_python3.11_sdk:2.77.0).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
jar="${FLINK_JOB_SERVER_JAR:-$("$root/runners/fetch_job_server.sh" flink)}"
env_args=(--environment_type "${ENVIRONMENT_TYPE:-LOOPBACK}")
[ -n "${ENVIRONMENT_CONFIG:-}" ] && env_args+=(--environment_config "$ENVIRONMENT_CONFIG")
exec "${PYTHON:-$root/.venv/bin/python}" -m pipeline \
  --runner FlinkRunner --flink_master "${FLINK_MASTER:-localhost:8081}" \
  --flink_job_server_jar "$jar" --parallelism "${PARALLELISM:-2}" \
  "${env_args[@]}" --setup_file "$root/setup.py" "$@"
