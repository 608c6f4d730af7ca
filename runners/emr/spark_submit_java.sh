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

# Spark's own jars come first on the driver's class path, and they hold
# Guava 14, where Beam's pipeline options need Guava 33 (its GCS options'
# defaults, built with every job's options): the job server then dies at
# start with NoSuchMethodError Preconditions.checkState (seen on YARN here,
# tests/test_yarn.py). An assembled job server's own Guava, beside it in lib/,
# goes first (--driver-class-path is put before Spark's jars); Spark itself
# uses a relocated copy, and Hadoop's client a shaded one.
first=()
for guava in "$(dirname "$jar")"/lib/guava-*.jar; do
  [ -f "$guava" ] && first=(--driver-class-path "$guava")
done
# runners/job_server/java's classes (the step's
# --pipeline_resources_detector_factory_class im2tfrecord.StageWhatSparkLacks)
# go beside the job server's own, in the class loader spark-submit gives it
# (they implement Beam's interfaces, which the JVM's class path cannot see):
# an assembled job server names them in its manifest, a published one lacks
# them and stage_jars.sh puts them in lib/.
staging="$(dirname "$jar")/lib/im2tfrecord-staging.jar"
[ -f "$staging" ] && first+=(--jars "$staging")
# shellcheck disable=SC2086  # BEAM_SPARK_SUBMIT_ARGS is a list of words on purpose.
exec spark-submit --master yarn --deploy-mode client \
  --class org.apache.beam.runners.spark.SparkJobServerDriver \
  ${first[@]+"${first[@]}"} ${BEAM_SPARK_SUBMIT_ARGS:-} "$jar" "$@"
