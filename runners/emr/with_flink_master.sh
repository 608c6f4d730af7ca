#!/usr/bin/env bash
# Runs COMMAND with --flink_master=HOST:PORT of the running Flink YARN session
# appended (installed on the cluster as /opt/im2tfrecord/bin/with-flink-master):
#   with-flink-master /opt/im2tfrecord/venv/bin/python3 -m pipeline --runner FlinkRunner ...
# A session's JobManager runs in a YARN container on a node and port that YARN
# picks, so a step cannot name it in advance. Flink registers its REST address
# with YARN as the application's host and RPC port, and Flink's own client looks
# it up there too ("AM Host" and "RPC Port" in `yarn application -status`).
# FLINK_SESSION_NAME (optional) picks a session by YARN application name (-nm);
# with no candidate or several, this fails rather than guess.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: with-flink-master COMMAND [ARGS...]" >&2; exit 2; }

# `yarn application -list` pads tab-separated columns with spaces.
apps="$(yarn application -list -appStates RUNNING -appTypes 'Apache Flink' 2>/dev/null |
  awk -F'\t' -v want="${FLINK_SESSION_NAME:-}" '
    { for (i = 1; i <= NF; i++) gsub(/^[ \r]+|[ \r]+$/, "", $i) }
    $1 ~ /^application_/ && (want == "" || $2 == want) { print $1 }')" || true
count="$(printf '%s' "$apps" | grep -c . || true)"
if [ "$count" -ne 1 ]; then
  echo "with-flink-master: expected one running Flink YARN session${FLINK_SESSION_NAME:+ named $FLINK_SESSION_NAME}," \
       "found $count${apps:+: ${apps//$'\n'/ }}; start one with flink-yarn-session -d, or set FLINK_SESSION_NAME" >&2
  exit 1
fi

field() {  # "<TAB>AM Host : ip-10-0-0-7.ec2.internal" -> ip-10-0-0-7.ec2.internal
  awk -F' : ' -v name="$1" '{ sub(/^[ \t]+/, "", $1); gsub(/[ \t\r]+$/, "", $2) } $1 == name { print $2 }'
}
# A session that is still starting has registered no address yet.
for _ in $(seq 30); do
  report="$(yarn application -status "$apps" 2>/dev/null || true)"
  host="$(printf '%s\n' "$report" | field "AM Host")"
  port="$(printf '%s\n' "$report" | field "RPC Port")"
  if [ -n "$host" ] && [ "$host" != "N/A" ] && [[ "$port" =~ ^[1-9][0-9]*$ ]]; then
    echo "with-flink-master: Flink session $apps at $host:$port" >&2
    exec "$@" "--flink_master=$host:$port"
  fi
  sleep "${WITH_FLINK_MASTER_POLL_S:-2}"
done
echo "with-flink-master: Flink session $apps registered no REST address" >&2
exit 1
