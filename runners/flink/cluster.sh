#!/usr/bin/env bash
# A standalone Flink session cluster on this machine: one JobManager and
# $TASKMANAGERS TaskManagers with $SLOTS slots each (default 1 x 2), every port
# on 127.0.0.1. Flink's Java distribution comes from PyPI's
# apache-flink-libraries sdist (its deps/ folder: lib/ with flink-dist, no
# start scripts), so the daemons are started here as Flink's own scripts would.
#
#   runners/flink/cluster.sh start   # last line: HOST:PORT for --flink_master
#   runners/flink/cluster.sh stop    # no process left behind
#   runners/flink/cluster.sh status
#
# ISOLATE_WORKERS=1 starts the TaskManagers with a /tmp of their own, blind to the
# launcher's (cluster_lib.sh).
# Logs and state: $IM2TFRECORD_CACHE/clusters/flink/ (default .cache/).
# It also writes sdk-worker there, the command for --environment_type PROCESS,
# and starts a worker pool for EXTERNAL (its address: worker-pool).
# The JobManager and TaskManagers run with Beam's Flink runner on their class
# path (from runners/job_server.sh), so jobs from runners/flink/run.sh ship no
# jars and each TaskManager keeps its SDK workers for a whole job.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
state="${IM2TFRECORD_CACHE:-$root/.cache}/clusters/flink"
# shellcheck source=../cluster_lib.sh
. "$root/runners/cluster_lib.sh"

FLINK_VERSION="${FLINK_VERSION:-1.19.3}"
TASKMANAGERS="${TASKMANAGERS:-1}"
SLOTS="${SLOTS:-2}"
REST_PORT="${FLINK_REST_PORT:-8081}"
# Enough for the job server's staged jars and Beam's data plane; the Python
# SDK workers run outside these JVMs.
TM_MEMORY="${TM_MEMORY:-2560m}"
JM_MEMORY="${JM_MEMORY:-1024m}"
START_TIMEOUT_S="${START_TIMEOUT_S:-90}"
# What Flink's default config passes to every JVM on Java 17.
JAVA_OPTS_17=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

write_config() {  # write_config DIR REST_PORT RPC_PORT BLOB_PORT
  mkdir -p "$1" "$state/tmp"
  cat >"$1/config.yaml" <<YAML
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $3
jobmanager.bind-host: 127.0.0.1
jobmanager.memory.process.size: $JM_MEMORY
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $2
blob.server.port: $4
taskmanager.host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.numberOfTaskSlots: $SLOTS
taskmanager.memory.process.size: $TM_MEMORY
# Beam's batch jobs run many stages at once; Flink's default (a tenth of the
# process) ran out of network buffers at parallelism 2, and 256 MiB with
# BATCH_FORCED on a TaskManager of 2 slots ("required 512, only 501").
taskmanager.memory.network.min: 512mb
taskmanager.memory.network.max: 512mb
# And each running task's blocking output (Flink's sort shuffle) reserves
# this many 32 KiB buffers: Flink's default, 512 (16 MiB), let only about 31
# of the tasks Beam's batch job schedules at once run in 512 MiB ("required
# 512, but only 499 available", once planning ran in bounded groups: more
# stages). 64 (2 MiB) each: the exchanges carry paths and rows, not pixels.
taskmanager.network.sort-shuffle.min-buffers: 64
# Beam's data plane to the SDK workers (gRPC over netty) takes its buffers
# from the JVM's direct memory, which Flink limits to its off-heap sizes; a
# grouped element is one buffer. Groups are bounded (a range or piece of at
# most 20,000 paths, a few MB: transforms/ranking.py, grouping.py), and 256
# MiB holds dozens in flight; Flink's framework off-heap alone (128 MiB) ran
# out on one class of 300,000 paths (about 80 MB) before they were.
taskmanager.memory.task.off-heap.size: 256mb
# The rest of the data plane lands on the heap: the messages the SDK workers
# send back are parsed there. Flink's default managed memory (0.4 of its
# memory, for sorting) left a heap of 334 MiB, which a class of 1 million
# paths ran out of ("OutOfMemoryError: Java heap space" in a gRPC thread,
# which hangs the task instead of failing it); the groups sort paths, not
# pixels, so a fifth for sorting, as the EMR step sets.
taskmanager.memory.managed.fraction: 0.2
parallelism.default: $((TASKMANAGERS * SLOTS))
io.tmp.dirs: $state/tmp
web.tmpdir: $state/tmp
# A job whose TaskManager dies is restarted, on the slots left. A dead
# TaskManager is known once two heartbeats to it fail (2 x 2 s here; Flink's
# default interval is 10 s), and a restart before that may be sent to its
# slots, and fail: hence 5 s between attempts. A lost TaskManager fails at
# once every task it ran and every task reading the results it kept; the
# fixed-delay strategy counted each of those failures as an attempt, and a
# job that lost two TaskManagers failed with 3, 10 and even 20 attempts
# ("Recovery is suppressed", tests/test_clusters.py, 2 CI runs in about 6
# with 20). Exponential-delay (Flink 1.19, FLIP-364) counts the failures
# that come within one backoff as one attempt. Flink 1.19 refuses a
# multiplier of 1, so the backoff starts at its maximum: 5 s every time, as
# fixed-delay was. A job that keeps failing ends after the attempts below
# (test_failing_job_on_cluster_ends_in_one_line, tests/test_clusters.py);
# the reset threshold keeps a long job from earning its attempts back.
heartbeat.interval: 2000
restart-strategy.type: exponential-delay
restart-strategy.exponential-delay.initial-backoff: 5 s
restart-strategy.exponential-delay.max-backoff: 5 s
restart-strategy.exponential-delay.backoff-multiplier: 1.5
restart-strategy.exponential-delay.jitter-factor: 0.0
restart-strategy.exponential-delay.reset-backoff-threshold: 1 h
restart-strategy.exponential-delay.attempts-before-reset-backoff: 10
# Beam's runner is on the daemons' class path (beam_class_path in
# runners/cluster_lib.sh) and must be loaded from there, not from a job.
classloader.resolve-order: parent-first
YAML
  write_flink_log4j "$1/log4j.properties"
}

# resource_params DIST CONF KIND -> the JVM flags (line 1) and -D settings
# (line 2) Flink's scripts compute from the memory configuration.
resource_params() {
  java -cp "$1/bin/bash-java-utils.jar:$1/lib/*" org.apache.flink.runtime.util.bash.BashJavaUtils \
    "GET_${3}_RESOURCE_PARAMS" --configDir "$2" 2>/dev/null \
    | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p'
}

registered_taskmanagers() {  # exits 0 when all TaskManagers have registered
  "$python" - "$(cat "$state/address")" "$TASKMANAGERS" <<'PY'
import json, sys, urllib.request
answer = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/taskmanagers", timeout=2))
sys.exit(0 if len(answer["taskmanagers"]) >= int(sys.argv[2]) else 1)
PY
}

running() {  # every daemon of ours alive (a killed TaskManager stays registered for a while)
  [ -s "$state/address" ] && same_isolation && alive jobmanager && alive worker-pool || return 1
  local n
  for n in $(seq 1 "$TASKMANAGERS"); do alive "taskmanager-$n" || return 1; done
  registered_taskmanagers
}

start() {
  mkdir -p "$state"
  if running; then cat "$state/address"; return; fi
  say_why_restarting
  stop_daemons
  command -v java >/dev/null || die "java is not installed (apt-get install openjdk-17-jre-headless)"
  local dist conf rest rpc blob
  say "starting Flink $FLINK_VERSION (a JobManager, $TASKMANAGERS TaskManager(s) of $SLOTS slot(s) each$([ "${ISOLATE_WORKERS:-0}" = 1 ] && echo ', workers isolated'); logs in $state)"
  dist="$(fetch_distribution apache-flink-libraries "$FLINK_VERSION")/deps"
  conf="$state/conf"
  rest="$(free_port "$REST_PORT")"; rpc="$(free_port 6123)"; blob="$(free_port 6124)"
  write_config "$conf" "$rest" "$rpc" "$blob"
  write_sdk_worker "$state/sdk-worker"
  export FLINK_CONF_DIR="$conf" FLINK_LIB_DIR="$dist/lib" FLINK_PLUGINS_DIR="$dist/plugins" FLINK_OPT_DIR="$dist/opt"
  local logging=(-Dlog4j.configurationFile="file:$conf/log4j.properties" -Dlog.file="$state/flink.log")

  local class_path; class_path="$dist/lib/*:$(beam_class_path flink)"
  local jm; mapfile -t jm < <(resource_params "$dist" "$conf" JM)
  [ "${#jm[@]}" -eq 2 ] || die "Flink's BashJavaUtils did not compute the JobManager's memory"
  stop_if_start_fails
  note_isolation
  # shellcheck disable=SC2086  # the computed flags are word lists
  start_daemon jobmanager java ${jm[0]} "${JAVA_OPTS_17[@]}" "${logging[@]}" -cp "$class_path" \
    org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir "$conf" ${jm[1]}
  echo "127.0.0.1:$rest" >"$state/address"
  echo "$SLOTS" >"$state/slots"

  local tm; mapfile -t tm < <(resource_params "$dist" "$conf" TM)
  [ "${#tm[@]}" -eq 2 ] || die "Flink's BashJavaUtils did not compute the TaskManager's memory"
  local n
  for n in $(seq 1 "$TASKMANAGERS"); do
    # shellcheck disable=SC2086
    # IM2TFRECORD_WORKER reaches its SDK workers, which name it in the log
    # line of each shard they write.
    start_daemon "taskmanager-$n" ${isolation[@]+"${isolation[@]}"} env IM2TFRECORD_WORKER="taskmanager-$n" java ${tm[0]} "${JAVA_OPTS_17[@]}" "${logging[@]}" -cp "$class_path" \
      org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir "$conf" ${tm[1]}
  done
  start_worker_pool 50000
  if ! wait_until "$START_TIMEOUT_S" "TaskManagers" registered_taskmanagers; then
    die "the TaskManagers did not register with the JobManager within ${START_TIMEOUT_S}s (logs: $state)"
  fi
  start_done
  cat "$state/address"
}

case "${1:-}" in
  start) start ;;
  stop) mkdir -p "$state"; stop_daemons; rm -f "$state/slots" "$state/worker-pool" "$state/isolation" ;;
  status) cluster_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
