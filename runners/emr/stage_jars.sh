#!/usr/bin/env bash
# Puts the job servers that runners/job_server.sh decides on (Beam's published
# shaded jar at the SDK's version where the Maven repository has it, else the
# one it assembles) into OUT under names that never change:
#
#   runners/emr/stage_jars.sh OUT
#   aws s3 cp OUT s3://YOUR-BUCKET/emr/jars/ --recursive
#
# OUT/flink/job-server.jar, OUT/spark/job-server.jar  (an assembled one with
#                                                     its lib/ beside it)
# OUT/{flink,spark}/lib/im2tfrecord-staging.jar      runners/job_server/java's
#                                                     classes (StageWhatSparkLacks)
# OUT/VERSIONS   one line per engine: engine, the jar it was copied from, the
#                Flink minor it is built for (flink), for bootstrap.sh's log
#
# The EMR steps and commands name /opt/im2tfrecord/jars/{flink,spark}/job-server.jar,
# where bootstrap.sh copies OUT, so no version is written anywhere else.
# Idempotent: OUT is replaced as a whole.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 OUT_FOLDER" >&2; exit 2; }
out="$1"
# The Flink minor each job server is built for: the module name says it
# (beam-runners-flink-1.19-job-server-...). EMR ships one Flink per release.
flink_minor() { basename "$1" | sed -n 's/^beam-runners-flink-\([0-9]*\.[0-9]*\)-job-server-.*/\1/p'; }

rm -rf "$out.partial"
mkdir -p "$out.partial"
for engine in flink spark; do
  jar="$("$root/runners/job_server.sh" "$engine" | tail -n 1)"
  [ -s "$jar" ] || { echo "stage_jars: job_server.sh $engine gave no jar" >&2; exit 1; }
  mkdir -p "$out.partial/$engine"
  cp "$jar" "$out.partial/$engine/job-server.jar"
  # An assembled (thin) jar names its dependencies in lib/ beside it.
  # (A published shaded jar sits alone in the cache's top folder.)
  if [ -d "$(dirname "$jar")/lib" ]; then
    cp -r "$(dirname "$jar")/lib" "$out.partial/$engine/lib"
  else
    # A published one gets runners/job_server/java's classes (the Spark
    # step's StageWhatSparkLacks) in lib/ too; spark_submit_java.sh adds them.
    mkdir -p "$out.partial/$engine/lib"
    "$root/runners/job_server.sh" "$engine" staging-classes "$out.partial/$engine/lib/im2tfrecord-staging.jar" >/dev/null
  fi
  if [ "$engine" = flink ]; then
    echo "flink $(basename "$jar") flink-$(flink_minor "$jar")" >>"$out.partial/VERSIONS"
  else
    echo "spark $(basename "$jar")" >>"$out.partial/VERSIONS"
  fi
done
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
