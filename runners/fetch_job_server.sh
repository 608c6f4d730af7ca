#!/usr/bin/env bash
# Fetches Beam's portable job-server jar for Flink or Spark from Maven Central
# into the cache folder, once, and prints its path.
#   runners/fetch_job_server.sh flink   # beam-runners-flink-1.20-job-server
#   runners/fetch_job_server.sh spark   # beam-runners-spark-3-job-server
# Beam 2.77 publishes Flink job servers for Flink 1.19, 1.20, 2.0, 2.1 and 2.2;
# set FLINK_MINOR to match your cluster's Flink.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${CACHE_DIR:-$root/.cache}/jars"
beam_version="${BEAM_VERSION:-2.77.0}"
case "${1:-}" in
  flink) artifact="beam-runners-flink-${FLINK_MINOR:-1.20}-job-server" ;;
  spark) artifact="beam-runners-spark-3-job-server" ;;
  *) echo "usage: $0 flink|spark" >&2; exit 2 ;;
esac
jar="$cache/$artifact-$beam_version.jar"
if [ ! -s "$jar" ]; then
  mkdir -p "$cache"
  if ! mvn -q -B dependency:copy -Dartifact="org.apache.beam:$artifact:$beam_version" \
       -DoutputDirectory="$cache" >"$cache/$artifact.log" 2>&1; then
    echo "fetch_job_server: org.apache.beam:$artifact:$beam_version is not on the Maven" \
         "repository this machine reaches (see $cache/$artifact.log)" >&2
    exit 1
  fi
fi
echo "$jar"
