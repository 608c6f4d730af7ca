#!/usr/bin/env bash
# The pipeline on a Flink cluster through Beam's FlinkRunner: only runner
# options differ from a local run. Beam starts the job server from the jar
# that runners/job_server.sh provides.
#
#   runners/flink/cluster.sh start      # or use a cluster of your own:
#   FLINK_MASTER=jobmanager:8081 runners/flink/run.sh --input s3://b/in --output s3://b/out
#
# FLINK_MASTER     default: the address of this clone's standalone cluster
#                  (runners/flink/cluster.sh start); none running and none named: exit 2
# FLINK_JOB_SERVER_JAR  default: runners/job_server.sh flink
# PARALLELISM      default: 2
# EXECUTION_MODE_FOR_BATCH  default: BATCH_FORCED: every exchange is written
#                  out first, so each task can run on its own, and a job that
#                  lost a TaskManager restarts on the slots left; Beam's
#                  PIPELINED schedules connected tasks together, needing as many
#                  free slots as the job's parallelism
# JOB_SERVER_JVM_OPTIONS  default: -XX:TieredStopAtLevel=1 -XX:+UseSerialGC:
#                  the job server lives for one job and only translates and
#                  submits it: a JVM that compiles less and collects with one
#                  thread saved 12 of its 48 CPU-seconds a hymenoptera job
#                  here (3 s of a 28 s job, medians of 3 runs on 2 cores)
# ENVIRONMENT_TYPE, ENVIRONMENT_CONFIG, SDK_WORKER: where the Python SDK
#                  workers run (default PROCESS); see worker_environment_args
#                  in runners/cluster_lib.sh.
# IM2TFRECORD_MAIN another Python script to run with these runner options
#                  instead of the converter (bench/bench_planning.py --runner does)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
. "$root/runners/cluster_lib.sh"
master="$(cluster_master flink FLINK_MASTER)"
refuse_paths_isolated_workers_miss flink "$master" "$@"
jar="${FLINK_JOB_SERVER_JAR:-$("$root/runners/job_server.sh" flink | tail -n 1)}"
worker_environment_args flink "$master"
staging_args flink "$master" "$jar"
main=(-m pipeline)
[ -z "${IM2TFRECORD_MAIN:-}" ] || main=("$IM2TFRECORD_MAIN")
jvm_args=()
for option in ${JOB_SERVER_JVM_OPTIONS--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}; do
  jvm_args+=("--job_server_jvm_properties=$option")
done
exec "$python" "${main[@]}" \
  --runner FlinkRunner --flink_master "$master" --flink_job_server_jar "$jar" \
  --parallelism "${PARALLELISM:-2}" --execution_mode_for_batch "${EXECUTION_MODE_FOR_BATCH:-BATCH_FORCED}" \
  --job_server_java_launcher "$root/runners/java_for_job_server.sh" ${jvm_args[@]+"${jvm_args[@]}"} \
  "${environment_args[@]}" ${staging_args[@]+"${staging_args[@]}"} "$@"
