#!/usr/bin/env bash
# Stands in for `java` when Beam's SparkRunner starts its Spark job server
# (--job_server_java_launcher; installed on the cluster as
# /opt/im2tfrecord/bin/spark-submit-java). Beam runs
#   LAUNCHER [JVM options] -jar JOB_SERVER_JAR [job server options]
# A plain `java -jar` job server cannot use EMR's Spark: that Spark runs on
# YARN, and the jar has neither Spark's YARN support nor the cluster's Hadoop
# configuration. This runs the same jar and options under EMR's spark-submit,
# which adds both (and spark-defaults.conf), in client mode: the job server,
# and the Spark driver inside it, stay on this node, the executors go to YARN.
# BEAM_SPARK_SUBMIT_ARGS (optional): more spark-submit options, for example
#   "--conf spark.executor.memoryOverhead=6g".
set -euo pipefail

jvm_options=()
while [ $# -gt 0 ] && [ "$1" != "-jar" ]; do jvm_options+=("$1"); shift; done
if [ $# -lt 2 ]; then
  echo "spark-submit-java: expected [JVM options] -jar JAR [ARGS...]" >&2
  exit 2
fi
jar="$2"
shift 2

# SPARK_SUBMIT_OPTS reaches the driver JVM without replacing the cluster's
# spark.driver.extraJavaOptions, as --driver-java-options would.
export SPARK_SUBMIT_OPTS="${SPARK_SUBMIT_OPTS:-} ${jvm_options[*]:-}"
# shellcheck disable=SC2086  # BEAM_SPARK_SUBMIT_ARGS is a list of words on purpose.
exec spark-submit --master yarn --deploy-mode client \
  --class org.apache.beam.runners.spark.SparkJobServerDriver \
  ${BEAM_SPARK_SUBMIT_ARGS:-} "$jar" "$@"
