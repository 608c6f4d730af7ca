# Shared by runners/flink/cluster.sh and runners/spark/cluster.sh (sourced):
# fetching a distribution from PyPI, free ports on 127.0.0.1, daemons with pid
# files, waiting for them, and stopping them without leaving a process behind.
# Expects $root (the project) and $state (this cluster's folder) to be set.

# set -e inside $(...) too (bash clears it there otherwise).
shopt -s inherit_errexit
cache="${IM2TFRECORD_CACHE:-$root/.cache}"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3

# ISOLATE_WORKERS=1: the workers (TaskManagers or Spark workers, the SDK
# workers they start, and the worker pool) run in a mount namespace of their
# own whose /tmp is empty, as on nodes of their own: nothing the launcher
# keeps in /tmp (Beam's temporary folders, a test's files) is there for them.
# The project and its cache stay, even where they are under /tmp (a CI
# clone): they are bound aside (onto a tmpfs on /srv, in that namespace
# only) before /tmp is covered, then bound back. The same process runs on
# (unshare and sh exec), so pid files and process groups hold. Needs root
# and util-linux's unshare; the cluster tests' S3 jobs use it.
isolation=()
if [ "${ISOLATE_WORKERS:-0}" = 1 ]; then
  # shellcheck disable=SC2016  # $1, $2 and $@ are the inner shell's
  isolation=(unshare --mount --propagation private sh -c '
    set -e
    mount -t tmpfs tmpfs /srv
    i=0; for dir in "$1" "$2"; do mkdir -p "/srv/$i"; mount --bind "$dir" "/srv/$i"; i=$((i + 1)); done
    mount -t tmpfs tmpfs /tmp
    i=0; for dir in "$1" "$2"; do mkdir -p "$dir"; mount --bind "/srv/$i" "$dir"; i=$((i + 1)); done
    shift 2
    exec "$@"' isolated "$root" "$cache")
fi

# same_isolation: the running daemons were started with this ISOLATE_WORKERS
# (a start with another one starts them again).
same_isolation() { [ "$(running_isolation)" = "${ISOLATE_WORKERS:-0}" ]; }
running_isolation() { cat "$state/isolation" 2>/dev/null || echo 0; }

# cluster_status: `status` whatever ISOLATE_WORKERS says now (it names the
# running cluster's); 1 when not running.
cluster_status() {
  local isolation; isolation="$(running_isolation)"
  if ISOLATE_WORKERS="$isolation" running; then
    echo "running at $(cat "$state/address")$([ "$isolation" = 1 ] && echo ', workers isolated (ISOLATE_WORKERS=1)')"
  else
    echo "not running"; return 1
  fi
}

# say_why_restarting: before `start` stops a cluster that runs with the
# other ISOLATE_WORKERS, so that the restart (and its new ports) is no surprise.
say_why_restarting() {
  if [ -s "$state/address" ] && ! same_isolation && ISOLATE_WORKERS="$(running_isolation)" running; then
    say "restarting: the running cluster has ISOLATE_WORKERS=$(running_isolation), this start asks for ${ISOLATE_WORKERS:-0}"
  fi
}
note_isolation() {
  if [ "${ISOLATE_WORKERS:-0}" = 1 ]; then
    command -v unshare >/dev/null || die "ISOLATE_WORKERS=1 needs unshare (apt-get install util-linux)"
    [ "$(id -u)" = 0 ] || die "ISOLATE_WORKERS=1 needs root (it mounts in a namespace of the workers' own)"
    mkdir -p "$cache"
  fi
  echo "${ISOLATE_WORKERS:-0}" >"$state/isolation"
}

die() { echo "$(basename "$(dirname "$0")")/$(basename "$0"): $*" >&2; exit 1; }
say() { echo "$(basename "$(dirname "$0")")/$(basename "$0"): $*" >&2; }

# fetch_distribution PYPI_NAME VERSION -> prints the unpacked sdist's folder.
# Flink's and Spark's Java distributions ship inside these PyPI sdists (the
# `deps/` folder); the sdist is unpacked once and kept in the cache.
fetch_distribution() {
  local name="$1" version="$2" dest="$cache/dist/$1-$2"
  if [ ! -d "$dest/deps" ]; then
    mkdir -p "$cache/dist"
    local work; work="$(mktemp -d "$cache/dist/.download.XXXXXX")"
    if ! "$python" -m pip download --quiet --no-deps --no-binary :all: \
         "$name==$version" -d "$work" >"$work/pip.log" 2>&1; then
      die "could not download $name==$version from PyPI: $(tail -n 1 "$work/pip.log")"
    fi
    tar -xzf "$work/$name-$version.tar.gz" -C "$work" || die "could not unpack $name-$version.tar.gz"
    rm -rf "$dest"
    mv "$work/$name-$version" "$dest" || die "could not move $name-$version into $cache/dist"
    rm -rf "$work"
  fi
  echo "$dest"
}

# write_flink_log4j FILE: Flink's log4j 2 settings, INFO and up to the
# console (the daemon's log), for the standalone and the YARN session's Flink.
write_flink_log4j() {
  cat >"$1" <<'PROPS'
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = Console
appender.console.name = Console
appender.console.type = Console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n
PROPS
}

# free_port PREFERRED -> PREFERRED if nothing listens there on 127.0.0.1, else a free one.
free_port() {
  "$python" - "$1" <<'PY'
import socket, sys
for port in (int(sys.argv[1]), 0):
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            print(s.getsockname()[1])
            break
    except OSError:
        continue
PY
}

# started_at PID: the process's start time (clock ticks since boot), which
# tells a daemon of ours from a process that reuses its number after a reboot.
started_at() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }

# ours NAME: the pid its pid file names, if that process is still the one we started.
ours() {
  local pid
  pid="$(cat "$state/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ "$(started_at "$pid")" = "$(cat "$state/$1.start" 2>/dev/null)" ] && echo "$pid"
}

# alive NAME: its pid file names a running process of ours.
alive() { ours "$1" >/dev/null; }

# stop_if_start_fails: from here until start_done, a failure (a die, or any
# failing command under set -e) stops what this start began.
stop_if_start_fails() {
  starting=1
  trap 'if [ "${starting:-0}" = 1 ]; then stop_daemons; fi' EXIT
}
start_done() { starting=0; }

# start_daemon NAME COMMAND...: runs COMMAND in its own session (so stop can
# end its whole process group), output to $state/NAME.log.
start_daemon() {
  local name="$1"; shift
  setsid "$@" >"$state/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
  started_at $! >"$state/$name.start"
}

# wait_until SECONDS DESCRIPTION COMMAND...: retries COMMAND twice a second.
wait_until() {
  local seconds="$1" what="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.5
  done
}

# stop_daemons: ends every process group started here (TERM, then KILL).
stop_daemons() {
  local pidfile name pid stopped=0 pids=()
  for pidfile in "$state"/*.pid; do
    [ -e "$pidfile" ] || continue
    name="$(basename "$pidfile" .pid)"
    # A pid file from before a reboot may name someone else's process now.
    if pid="$(ours "$name")"; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$pidfile" "$state/$name.start"
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    stopped=$((stopped + 1))
  done
  rm -f "$state/address"
  [ "$stopped" -eq 0 ] || say "stopped $stopped process group(s)"
}

# http_ok URL: the URL answers 2xx.
http_ok() {
  "$python" - "$1" <<'PY'
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()
PY
}

# write_sdk_worker PATH: the command Beam's PROCESS environment runs on a
# worker node (here: this machine), this project's Python and runners/emr/sdk_worker.py.
write_sdk_worker() {
  cat >"$1" <<SH
#!/bin/sh
# Beam SDK worker for --environment_type PROCESS (see runners/emr/sdk_worker.py).
exec "$python" "$root/runners/emr/sdk_worker.py" "\$@"
SH
  chmod +x "$1"
}

# start_worker_pool PREFERRED_PORT: a worker pool for --environment_type
# EXTERNAL (runners/worker_pool.py, starting $state/sdk-worker for each worker
# the runner asks for); its address goes to $state/worker-pool.
start_worker_pool() {
  local port; port="$(free_port "$1")"
  start_daemon worker-pool ${isolation[@]+"${isolation[@]}"} "$python" "$root/runners/worker_pool.py" "$port" "$state/sdk-worker"
  echo "127.0.0.1:$port" >"$state/worker-pool"
  wait_until 60 "worker pool" grep -q "listening on" "$state/worker-pool.log" \
    || die "the worker pool did not start within 60s (log: $state/worker-pool.log)"
}

# cluster_master ENGINE VARIABLE: the value of VARIABLE (FLINK_MASTER, ...) if
# set, else the address of this clone's running standalone cluster; with
# neither, one line and exit 2 (never a guess such as localhost:8081, which
# may be someone else's cluster).
cluster_master() {
  local given="${!2:-}" address
  if [ -n "$given" ]; then echo "$given"; return; fi
  address="$(cat "$cache/clusters/$1/address" 2>/dev/null || true)"
  if [ -z "$address" ]; then
    echo "$1/run.sh: no cluster: start this clone's with runners/$1/cluster.sh start, or name yours with $2=..." >&2
    exit 2
  fi
  echo "$address"
}

# refuse_paths_isolated_workers_miss ENGINE MASTER ARGS...: exit 2 with one
# line when MASTER is this clone's cluster, started with ISOLATE_WORKERS=1, and
# a local --input, --output or --manifest is under /tmp, which its workers do
# not share (the project and its cache, bound back in, are fine). Otherwise an
# output there is written where the launcher cannot see it, and an input there
# is one unreadable path in errors.jsonl.
refuse_paths_isolated_workers_miss() {
  local engine="$1" master="$2"; shift 2
  local ours="$cache/clusters/$engine"
  [ "$(cat "$ours/isolation" 2>/dev/null || echo 0)" = 1 ] || return 0
  [ "$master" = "$(cat "$ours/address" 2>/dev/null)" ] || return 0
  local flag path form
  while [ $# -gt 0 ]; do
    case "$1" in
      --input=*|--output=*|--manifest=*) flag="${1%%=*}"; path="${1#*=}" ;;
      --input|--output|--manifest) flag="$1"; path="${2:-}"; [ $# -lt 2 ] || shift ;;
      *) shift; continue ;;
    esac
    shift
    case "$path" in *://*|'') continue ;; esac
    # The path as the launcher passes it on (links kept) and where it leads:
    # a worker follows a link in its own /tmp, or to it, to nothing.
    for form in "$(realpath -m -s -- "$path")" "$(realpath -m -- "$path")"; do
      case "$form/" in "$root"/*|"$cache"/*|"$(realpath -m -- "$root")"/*|"$(realpath -m -- "$cache")"/*) continue ;; esac
      case "$form/" in
        /tmp/*)
          echo "$engine/run.sh: $flag $form is under /tmp, which this clone's cluster's workers do not share (started with ISOLATE_WORKERS=1): use S3 or a folder outside /tmp" >&2
          exit 2 ;;
      esac
    done
  done
}

# worker_environment_args ENGINE MASTER: the Beam flags for the SDK workers' environment,
# from ENVIRONMENT_TYPE (default PROCESS) and ENVIRONMENT_CONFIG, into the array
# `environment_args`.
#   PROCESS   each TaskManager / executor starts SDK workers with the command
#             $SDK_WORKER (default: the standalone cluster's sdk-worker, else
#             /opt/im2tfrecord/bin/sdk-worker as runners/emr/bootstrap.sh installs it)
#   LOOPBACK  the workers run inside the launching process: one machine only
#   EXTERNAL  ENVIRONMENT_CONFIG=HOST:PORT of a running worker pool (default:
#             the one this clone's standalone cluster started)
#   DOCKER    ENVIRONMENT_CONFIG=an SDK image with the package installed
worker_environment_args() {
  local type="${ENVIRONMENT_TYPE:-PROCESS}" config="${ENVIRONMENT_CONFIG:-}"
  if [ "$type" = PROCESS ] && [ -z "$config" ]; then
    local command="${SDK_WORKER:-$cache/clusters/$1/sdk-worker}"
    [ -x "$command" ] || command=/opt/im2tfrecord/bin/sdk-worker
    config="{\"command\": \"$command\"}"
  fi
  if [ "$type" = EXTERNAL ] && [ -z "$config" ]; then
    config="$(cat "$cache/clusters/$1/worker-pool" 2>/dev/null)" \
      || die "EXTERNAL workers need ENVIRONMENT_CONFIG=HOST:PORT of a worker pool (this clone's clusters start one)"
  fi
  environment_args=(--environment_type "$type")
  [ -n "$config" ] && environment_args+=(--environment_config "$config")
  # Keep each worker's SDK harness for the whole job rather than starting a
  # new one per task (Spark otherwise pays a Python start-up for every task).
  # LOOPBACK workers are threads of the launcher, nothing to start, but on
  # Flink a released one is stopped at once, while the next stage's task in
  # the same slot may be taking it ("SDK harness closed connection"): kept
  # for a few seconds past each stage instead. On Spark a cached one outlives
  # the job, to die noisily when the job server stops.
  if [ "$type" = LOOPBACK ]; then
    [ "$1" = spark ] || environment_args+=(--environment_cache_millis "${ENVIRONMENT_CACHE_MILLIS:-5000}")
  else
    environment_args+=(--environment_cache_millis "${ENVIRONMENT_CACHE_MILLIS:-600000}")
  fi
  # One SDK worker process (its own GIL) per task slot or executor core, so
  # that each slot's bundles run side by side: SDK_WORKER_PARALLELISM, else
  # the slots per TaskManager / cores per worker of this clone's standalone
  # cluster, else 1 (Beam's default; set it for your own cluster).
  local slots=1
  if own_cluster "$1" "$2"; then slots="$(cat "$cache/clusters/$1/slots" 2>/dev/null || echo 1)"; fi
  environment_args+=(--sdk_worker_parallelism "${SDK_WORKER_PARALLELISM:-$slots}")
  # Only an SDK image installs the staged package; PROCESS workers have it installed.
  if [ "$type" = DOCKER ]; then environment_args+=(--setup_file "$root/setup.py"); fi
}

# beam_class_path ENGINE: the job server's jars, but the engine's own (Flink's
# or Spark's, which the daemons already have at the cluster's version), joined
# by ':'. The daemons get them on their class path so that a job ships no
# jars (NoResourcesToStage in runners/job_server/java) and, on Flink, so that
# Beam's runner classes live in the TaskManager's own class loader: only then
# does a TaskManager keep its SDK workers from one stage to the next (Beam's
# FlinkExecutableStageContextFactory releases them at once when its class
# came with the job), instead of starting Python again for each of a job's
# ~9 stages.
beam_class_path() {
  local jar jars=""
  for jar in "$(dirname "$("$root/runners/job_server.sh" "$1" | tail -n 1)")"/lib/*.jar; do
    engines_own "$1" "$(basename "$jar")" || jars="$jars${jars:+:}$jar"
  done
  echo "$jars"
}

engines_own() {  # engines_own ENGINE JAR_NAME: the jar is one the engine ships itself
  case "$1:$2" in
    flink:flink-*|flink:kryo-*|flink:slf4j-*) return 0 ;;
    spark:spark-*|spark:scala-*|spark:slf4j-*|spark:log4j-*) return 0 ;;
  esac
  return 1
}

# staging_args ENGINE MASTER JAR: into the array `staging_args`, the flag that
# has the job server ship no jars, when MASTER is this clone's standalone
# cluster (whose daemons have them: beam_class_path) and JAR holds
# NoResourcesToStage. Any other cluster gets the jars with each job, as
# Beam does by default; so does this clone's with SHIP_JARS=1.
staging_args() {
  staging_args=()
  if [ "${SHIP_JARS:-0}" != 1 ] && own_cluster "$1" "$2" && [ -s "$(dirname "$3")/lib/im2tfrecord-staging.jar" ]; then
    staging_args=(--pipeline_resources_detector_factory_class im2tfrecord.NoResourcesToStage)
  fi
}

# own_cluster ENGINE MASTER: MASTER is this clone's standalone cluster.
own_cluster() {
  local own; own="$(cat "$cache/clusters/$1/address" 2>/dev/null || true)"
  [ -n "$own" ] && [ "${2#http://}" = "$own" ]
}
