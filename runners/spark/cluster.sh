#!/usr/bin/env bash
# A standalone Spark cluster on this machine: one master and $WORKERS workers
# with $WORKER_CORES cores each (default 1 x 2), every port on 127.0.0.1.
# Spark's distribution comes from PyPI's pyspark sdist (its deps/ folder is a
# Spark home: bin/spark-class, jars/; sbin/ lacks the daemon scripts), so the
# master and workers are started here with spark-class, as sbin/ would.
#
#   runners/spark/cluster.sh start   # last line: spark://HOST:PORT for --spark_master_url
#   runners/spark/cluster.sh stop    # no process left behind
#   runners/spark/cluster.sh status
#
# ISOLATE_WORKERS=1 starts the workers with a /tmp of their own, blind to the
# launcher's (cluster_lib.sh).
# Logs and state: $IM2TFRECORD_CACHE/clusters/spark/ (default .cache/).
# It also writes sdk-worker there, the command for --environment_type PROCESS,
# and starts a worker pool for EXTERNAL (its address: worker-pool).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
state="${IM2TFRECORD_CACHE:-$root/.cache}/clusters/spark"
# shellcheck source=../cluster_lib.sh
. "$root/runners/cluster_lib.sh"

SPARK_VERSION="${SPARK_VERSION:-3.5.3}"
WORKERS="${WORKERS:-1}"
WORKER_CORES="${WORKER_CORES:-2}"
WORKER_MEMORY="${WORKER_MEMORY:-2g}"
MASTER_PORT="${SPARK_MASTER_PORT:-7077}"
START_TIMEOUT_S="${START_TIMEOUT_S:-90}"

alive_workers() {  # exits 0 when all workers have registered with the master
  "$python" - "$(cat "$state/webui")" "$WORKERS" <<'PY'
import json, sys, urllib.request
answer = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/json/", timeout=2))
sys.exit(0 if answer.get("aliveworkers", 0) >= int(sys.argv[2]) else 1)
PY
}

running() {  # every daemon of ours alive, and registered
  [ -s "$state/address" ] && same_isolation && alive master && alive worker-pool || return 1
  local n
  for n in $(seq 1 "$WORKERS"); do alive "worker-$n" || return 1; done
  alive_workers
}

start() {
  mkdir -p "$state"
  if running; then cat "$state/address"; return; fi
  say_why_restarting
  stop_daemons
  command -v java >/dev/null || die "java is not installed (apt-get install openjdk-17-jre-headless)"
  local home port webui
  say "starting Spark $SPARK_VERSION (a master, $WORKERS worker(s) of $WORKER_CORES core(s) each$([ "${ISOLATE_WORKERS:-0}" = 1 ] && echo ', workers isolated'); logs in $state)"
  home="$(fetch_distribution pyspark "$SPARK_VERSION")/deps"
  port="$(free_port "$MASTER_PORT")"; webui="$(free_port 8080)"
  write_sdk_worker "$state/sdk-worker"
  mkdir -p "$state/work" "$state/tmp"
  export SPARK_HOME="$home" SPARK_LOCAL_IP=127.0.0.1 SPARK_LOG_DIR="$state" SPARK_LOCAL_DIRS="$state/tmp"
  # The workers' web UIs start at 18081, clear of Flink's 8081.: free ones, on 127.0.0.1 like everything else.
  export SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true"
  # Beam's Spark runner on the executors' class path (spark-class appends
  # SPARK_DIST_CLASSPATH to what it starts, the workers' executors included),
  # so that jobs from runners/spark/run.sh ship no jars to each executor.
  SPARK_DIST_CLASSPATH="$(beam_class_path spark)"; export SPARK_DIST_CLASSPATH
  stop_if_start_fails
  note_isolation
  start_daemon master "$home/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$port" --webui-port "$webui"
  echo "127.0.0.1:$webui" >"$state/webui"
  echo "spark://127.0.0.1:$port" >"$state/address"
  echo "$WORKER_CORES" >"$state/slots"
  wait_until 30 "master" http_ok "http://127.0.0.1:$webui/json/" \
    || die "the Spark master did not start within 30s (log: $state/master.log)"
  local n
  for n in $(seq 1 "$WORKERS"); do
    mkdir -p "$state/work/$n"
    # IM2TFRECORD_WORKER reaches its executors' SDK workers, which name it
    # in the log line of each shard they write.
    start_daemon "worker-$n" ${isolation[@]+"${isolation[@]}"} env IM2TFRECORD_WORKER="worker-$n" "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --port 0 --webui-port "$(free_port $((18080 + n)))" \
      --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" --work-dir "$state/work/$n" \
      "spark://127.0.0.1:$port"
  done
  start_worker_pool 50100
  if ! wait_until "$START_TIMEOUT_S" "workers" alive_workers; then
    die "the Spark workers did not register with the master within ${START_TIMEOUT_S}s (logs: $state)"
  fi
  start_done
  cat "$state/address"
}

case "${1:-}" in
  start) start ;;
  stop) mkdir -p "$state"; stop_daemons; rm -f "$state/webui" "$state/slots" "$state/worker-pool" "$state/isolation" ;;
  status) cluster_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
