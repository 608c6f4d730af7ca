#!/usr/bin/env bash
# The pipeline on a Spark standalone cluster through Beam's portable SparkRunner:
# only runner options differ from a local run. Beam starts the job server from the jar.
#   SPARK_MASTER=spark://master:7077 runners/spark/run.sh --input s3://b/in --output s3://b/out
# ENVIRONMENT_TYPE as in runners/flink/run.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
jar="${SPARK_JOB_SERVER_JAR:-$("$root/runners/fetch_job_server.sh" spark)}"
env_args=(--environment_type "${ENVIRONMENT_TYPE:-LOOPBACK}")
[ -n "${ENVIRONMENT_CONFIG:-}" ] && env_args+=(--environment_config "$ENVIRONMENT_CONFIG")
exec "${PYTHON:-$root/.venv/bin/python}" -m pipeline \
  --runner SparkRunner --spark_master_url "${SPARK_MASTER:-spark://localhost:7077}" \
  --spark_job_server_jar "$jar" \
  "${env_args[@]}" --setup_file "$root/setup.py" "$@"
