#!/usr/bin/env bash
# Prints, as its last line, the path of a runnable Beam job-server jar for
# Flink or Spark: what Beam's --flink_job_server_jar / --spark_job_server_jar
# take, so that `--runner FlinkRunner` / `--runner SparkRunner` work unchanged.
#
#   runners/job_server.sh flink   # Flink 1.19 job server
#   runners/job_server.sh spark   # Spark 3 job server (Spark 3.5.3)
#   runners/job_server.sh spark staging-classes OUT_JAR   # see below
#
# First choice: Beam's published job server at the SDK's version
# (beam-runners-<engine>-job-server:$BEAM_VERSION, a shaded jar). Where the
# Maven repository lacks it (true of the mirror this project is built on for
# every version since 2.62), the job server is assembled from the runner
# module at $FALLBACK_BEAM_VERSION: its runtime dependencies are copied into a
# folder and a thin jar names them in its manifest (runners/job_server/).
#
# The assembled job server also holds runners/job_server/java's classes:
# im2tfrecord.NoResourcesToStage, which the launchers select for this
# project's standalone clusters (their daemons have these jars on their class
# path), and im2tfrecord.StageWhatSparkLacks, which the EMR Spark step selects
# (it ships only what Spark's executors lack).
#
# Idempotent: jars are kept under $IM2TFRECORD_CACHE (default .cache/) and
# Maven's own repository (~/.m2) keeps the downloads across clones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${IM2TFRECORD_CACHE:-$root/.cache}/job-server"
beam_version="${BEAM_VERSION:-2.77.0}"
# The newest Beam whose runner modules resolve with every dependency here
# (2.63 to 2.76 lack beam-runners-java-job-service on that mirror).
fallback_version="${FALLBACK_BEAM_VERSION:-2.62.0}"
spark_version="${SPARK_VERSION:-3.5.3}"

case "${1:-}" in
  flink) module="beam-runners-flink-1.19"; main="org.apache.beam.runners.flink.FlinkJobServerDriver"; jar_flags=() ;;
  spark) module="beam-runners-spark-3"; main="org.apache.beam.runners.spark.SparkJobServerDriver"; jar_flags=(--without-gcs) ;;
  *) echo "usage: $0 flink|spark" >&2; exit 2 ;;
esac
engine="$1"
published="$cache/$module-job-server-$beam_version.jar"
assembled="$cache/$engine-$fallback_version/$module-job-server-$fallback_version.jar"
mkdir -p "$cache"
log="$cache/$engine.log"

fail() { echo "job_server: $*" >&2; exit 1; }

command -v mvn >/dev/null || fail "Maven (mvn) is not installed; apt-get install maven"
command -v java >/dev/null || fail "java is not installed; apt-get install openjdk-17-jre-headless"

# add_staging_classes DIR: compiles runners/job_server/java (the classes that
# choose which jars a job ships) into DIR/lib and writes the thin jar again so
# that its Class-Path names them. Compiled again when the sources change.
staging_jar="im2tfrecord-staging.jar"
add_staging_classes() {
  local lib="$1/lib" classes sources
  sources="$(cat "$root"/runners/job_server/java/im2tfrecord/*.java | sha256sum | cut -c1-16)"
  [ -s "$lib/$staging_jar" ] && [ "$(cat "$lib/$staging_jar.sources" 2>/dev/null)" = "$sources" ] && return
  rm -f "$lib/im2tfrecord-no-staging.jar"  # This jar's name before StageWhatSparkLacks.
  compile_staging_classes "$lib/$staging_jar" "$lib/*"
  echo "$sources" >"$lib/$staging_jar.sources"
  python3 "$root/runners/job_server/thin_jar.py" "$1/$(basename "$assembled")" "$main" "$lib" ${jar_flags[@]+"${jar_flags[@]}"}
}

# compile_staging_classes OUT_JAR CLASS_PATH: runners/job_server/java into OUT_JAR.
compile_staging_classes() {
  local classes
  command -v javac >/dev/null || fail "javac is not installed; apt-get install openjdk-17-jdk-headless"
  classes="$(mktemp -d)"
  javac -nowarn -cp "$2" -d "$classes" "$root"/runners/job_server/java/im2tfrecord/*.java >>"$log" 2>&1 \
    || fail "could not compile runners/job_server/java (see $log)"
  jar cf "$1.partial" -C "$classes" . && mv "$1.partial" "$1"
  rm -rf "$classes"
}

# `job_server.sh ENGINE staging-classes OUT_JAR`: those classes compiled
# against the job server's jar, for a published (shaded) one, which has no
# lib/ to hold them (runners/emr/stage_jars.sh).
if [ "${2:-}" = staging-classes ]; then
  jar="$("$0" "$engine" | tail -n 1)"
  compile_staging_classes "$3" "$jar"
  echo "$3"
  exit 0
fi

if [ -s "$published" ]; then echo "$published"; exit 0; fi
if [ -s "$assembled" ]; then add_staging_classes "$(dirname "$assembled")"; echo "$assembled"; exit 0; fi

# 1. The published job server at the SDK's version.
: >"$log"
if mvn -B -q dependency:copy -Dartifact="org.apache.beam:$module-job-server:$beam_version" \
     -DoutputDirectory="$cache" >>"$log" 2>&1 && [ -s "$published" ]; then
  echo "$published"
  exit 0
fi
if grep -q -E "UnknownHost|Connection refused|Network is unreachable|Connect timed out" "$log"; then
  fail "cannot reach the Maven repository (see $log)"
fi
echo "job_server: $module-job-server:$beam_version is not on the Maven repository;" \
     "assembling the job server from $module:$fallback_version" >&2

# 2. Assembled from the runner module and its runtime dependencies.
dir="$(dirname "$assembled")"
rm -rf "$dir.partial"
mkdir -p "$dir.partial"
if ! mvn -B -q -f "$root/runners/job_server/$engine.pom.xml" dependency:copy-dependencies \
     -Dbeam.version="$fallback_version" -Dspark.version="$spark_version" \
     -DincludeScope=runtime -DoutputDirectory="$dir.partial/lib" >>"$log" 2>&1; then
  if grep -q -E "UnknownHost|Connection refused|Network is unreachable|Connect timed out" "$log"; then
    fail "cannot reach the Maven repository (see $log)"
  fi
  fail "could not resolve $module:$fallback_version with its dependencies (see $log)"
fi
add_staging_classes "$dir.partial"
rm -rf "$dir"
mv "$dir.partial" "$dir"
echo "$assembled"
