#!/usr/bin/env bash
# The pipeline on a Spark standalone cluster through Beam's portable
# SparkRunner: only runner options differ from a local run. Beam starts the
# job server (the Spark driver) from the jar that runners/job_server.sh provides.
#
#   runners/spark/cluster.sh start      # or use a cluster of your own:
#   SPARK_MASTER=spark://master:7077 runners/spark/run.sh --input s3://b/in --output s3://b/out
#
# SPARK_MASTER     default: the address of this clone's standalone cluster
#                  (runners/spark/cluster.sh start); none running and none named: exit 2
# SPARK_JOB_SERVER_JAR  default: runners/job_server.sh spark
# ENVIRONMENT_TYPE, ENVIRONMENT_CONFIG, SDK_WORKER: as for runners/flink/run.sh.
# IM2TFRECORD_MAIN another Python script to run with these runner options
#                  instead of the converter (bench/bench_planning.py --runner does)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
. "$root/runners/cluster_lib.sh"
master="$(cluster_master spark SPARK_MASTER)"
refuse_paths_isolated_workers_miss spark "$master" "$@"
jar="${SPARK_JOB_SERVER_JAR:-$("$root/runners/job_server.sh" spark | tail -n 1)}"
# The job server is Spark's driver, which executors call back: with a master on
# this machine, keep the driver on loopback too instead of the host's address.
case "$master" in
  spark://127.0.0.1:*|spark://localhost:*) export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}" ;;
esac
worker_environment_args spark "$master"
staging_args spark "$master" "$jar"
main=(-m pipeline)
[ -z "${IM2TFRECORD_MAIN:-}" ] || main=("$IM2TFRECORD_MAIN")
exec "$python" "${main[@]}" \
  --runner SparkRunner --spark_master_url "$master" --spark_job_server_jar "$jar" \
  --job_server_java_launcher "$root/runners/java_for_job_server.sh" \
  "${environment_args[@]}" ${staging_args[@]+"${staging_args[@]}"} "$@"
