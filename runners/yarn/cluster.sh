#!/usr/bin/env bash
# A YARN on this machine, for running Flink and Spark as EMR runs them
# (tests/test_yarn.py, `make test-emr`):
#
#   runners/yarn/cluster.sh start    # prints, last, a folder to put first on PATH
#   runners/yarn/cluster.sh stop
#   runners/yarn/cluster.sh status
#
# YARN is Hadoop's MiniYARNCluster (a ResourceManager and a NodeManager in
# one JVM: runners/yarn/java), built from Maven Central (runners/yarn/pom.xml,
# Hadoop 3.3.4, the version of the Spark distribution's Hadoop client). The
# folder `start` prints holds the commands EMR's nodes have, each a thin
# wrapper over the distributions the standalone clusters use:
#
#   yarn                 `yarn application ...` (Hadoop's ApplicationCLI)
#   flink-yarn-session   Flink 1.19's FlinkYarnSessionCli (apache-flink-libraries)
#   spark-submit         Spark 3.5's (pyspark), YARN's configuration beside it
#   sdk-worker           the PROCESS environment's command (runners/emr/sdk_worker.py)
#
# so runners/emr/with_flink_master.sh and spark_submit_java.sh run unchanged.
# Containers are the NodeManager's child processes (their logs under
# $state/target/, MiniYARNCluster's folder); files are localised from the
# local disk (no HDFS: one node).
# NM_MEMORY_MB (default 12288) and NM_VCORES (8) size the one node.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
state="${IM2TFRECORD_CACHE:-$root/.cache}/clusters/yarn"
# shellcheck source=runners/cluster_lib.sh
source "$root/runners/cluster_lib.sh"

FLINK_VERSION=1.19.3
SPARK_VERSION=3.5.3
HADOOP_VERSION=3.3.4
START_TIMEOUT_S=120
# Hadoop 3.3 and Flink reach into these packages by reflection on Java 17.
JAVA_OPENS=(
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
)

# build: the MiniYARNCluster's jars and our LocalYarn, once, into $cache/yarn-lib.
build() {
  local lib="$cache/yarn-lib" log="$cache/yarn-lib.log"
  [ -s "$lib/im2tfrecord-local-yarn.jar" ] && return
  command -v mvn >/dev/null || die "Maven (mvn) is not installed; apt-get install maven"
  command -v javac >/dev/null || die "javac is not installed; apt-get install openjdk-17-jdk-headless"
  rm -rf "$lib.partial"
  mvn -B -q -f "$root/runners/yarn/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -Dhadoop.version="$HADOOP_VERSION" -DoutputDirectory="$lib.partial" >"$log" 2>&1 \
    || die "could not resolve runners/yarn/pom.xml's dependencies (see $log)"
  local classes; classes="$(mktemp -d)"
  javac -nowarn -cp "$lib.partial/*" -d "$classes" "$root"/runners/yarn/java/im2tfrecord/*.java >>"$log" 2>&1 \
    || die "could not compile runners/yarn/java (see $log)"
  jar cf "$lib.partial/im2tfrecord-local-yarn.jar" -C "$classes" .
  rm -rf "$classes" "$lib"
  mv "$lib.partial" "$lib"
}

write_log4j() {  # Hadoop's daemons and clients log through log4j 1: to a file, warnings up.
  cat >"$1" <<PROPS
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$state/hadoop.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d %p %c{1}: %m%n
PROPS
}

# write_commands: the nodes' commands, in $state/bin.
write_commands() {
  local flink spark bin="$state/bin" conf="$state/conf"
  flink="$(fetch_distribution apache-flink-libraries "$FLINK_VERSION")/deps"
  spark="$(fetch_distribution pyspark "$SPARK_VERSION")/deps"
  mkdir -p "$bin" "$state/flink-conf" "$state/flink-lib" "$state/spark-conf"

  cat >"$bin/yarn" <<SH
#!/bin/sh
# yarn's client subcommands against this machine's YARN (runners/yarn/cluster.sh).
case "\$1" in
  application|applicationattempt|container) ;;
  *) echo "yarn: only application, applicationattempt and container here" >&2; exit 2 ;;
esac
exec java ${JAVA_OPENS[*]} -Dlog4j.configuration=file:$conf/log4j.properties \\
  -cp "$conf:$cache/yarn-lib/*" org.apache.hadoop.yarn.client.cli.ApplicationCLI "\$@"
SH

  # Flink's lib, plus the Hadoop client EMR's Flink has on its class path.
  local jar
  for jar in "$flink"/lib/*.jar "$cache/yarn-lib/hadoop-client-api-$HADOOP_VERSION.jar" \
             "$cache/yarn-lib/hadoop-client-runtime-$HADOOP_VERSION.jar" "$cache"/yarn-lib/commons-logging-*.jar; do
    ln -sf "$jar" "$state/flink-lib/"
  done
  # The containers find YARN's configuration as EMR's do, from HADOOP_CONF_DIR.
  cat >"$state/flink-conf/config.yaml" <<YAML
env.java.opts.all: ${JAVA_OPENS[*]}
containerized.master.env.HADOOP_CONF_DIR: $conf
containerized.taskmanager.env.HADOOP_CONF_DIR: $conf
rest.address: localhost
YAML
  write_flink_log4j "$state/flink-conf/log4j.properties"
  cat >"$bin/flink-yarn-session" <<SH
#!/bin/sh
# EMR's flink-yarn-session: Flink $FLINK_VERSION's YARN session client.
export FLINK_CONF_DIR="$state/flink-conf" FLINK_LIB_DIR="$state/flink-lib" \\
  FLINK_PLUGINS_DIR="$flink/plugins" HADOOP_CONF_DIR="$conf"
exec java ${JAVA_OPENS[*]} -Dlog4j.configurationFile=file:$state/flink-conf/log4j.properties \\
  -cp "$state/flink-lib/*:$conf" org.apache.flink.yarn.cli.FlinkYarnSessionCli "\$@"
SH

  # Spark's jars are on the node already (spark.yarn.jars=local:), as on EMR;
  # otherwise each application zips and uploads all of them.
  cat >"$state/spark-conf/spark-defaults.conf" <<CONF
spark.yarn.jars local:$spark/jars/*
spark.yarn.am.memory 512m
CONF
  cat >"$bin/spark-submit" <<SH
#!/bin/sh
# EMR's spark-submit: Spark $SPARK_VERSION's, with YARN's configuration.
export SPARK_HOME="$spark" SPARK_CONF_DIR="$state/spark-conf" HADOOP_CONF_DIR="$conf" SPARK_LOCAL_IP=127.0.0.1
exec "$spark/bin/spark-submit" "\$@"
SH
  write_sdk_worker "$bin/sdk-worker"
  chmod +x "$bin"/*
}

yarn_up() { [ -s "$state/conf/yarn-site.xml" ] && alive yarn; }

start() {
  mkdir -p "$state"
  if yarn_up; then echo "$state/bin"; return; fi
  stop_all
  command -v java >/dev/null || die "java is not installed (apt-get install openjdk-17-jre-headless)"
  say "starting YARN (Hadoop $HADOOP_VERSION's MiniYARNCluster: a ResourceManager and a NodeManager of ${NM_MEMORY_MB:-12288} MB; logs in $state)"
  build
  mkdir -p "$state/conf"
  rm -f "$state/conf/yarn-site.xml"
  write_log4j "$state/conf/log4j.properties"
  stop_if_start_fails
  # MiniYARNCluster keeps its folders (containers' logs and files) under ./target.
  (cd "$state" && start_daemon yarn java "${JAVA_OPENS[@]}" -Dlog4j.configuration="file:$state/conf/log4j.properties" \
    -cp "$cache/yarn-lib/*" im2tfrecord.LocalYarn "$state/conf/yarn-site.xml" "${NM_MEMORY_MB:-12288}" "${NM_VCORES:-8}")
  wait_until "$START_TIMEOUT_S" "YARN" yarn_up || die "YARN did not come up within ${START_TIMEOUT_S}s (see $state/yarn.log)"
  write_commands
  start_done
  echo "$state/bin"
}

# stop_all: the daemon, and the containers it started (each in a session of
# its own, so not in the daemon's process group): every process whose
# command line names a folder under its ./target (their log folders). An SDK
# worker ends when its TaskManager or executor is gone.
stop_all() {
  stop_daemons
  local containers="$state/target/"
  pkill -TERM -f -- "$containers" 2>/dev/null || true
  for _ in $(seq 1 20); do pgrep -f -- "$containers" >/dev/null || break; sleep 0.25; done
  pkill -KILL -f -- "$containers" 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) mkdir -p "$state"; stop_all ;;
  status) if yarn_up; then echo "YARN up: $(grep -o 'yarn.resourcemanager.address</name><value>[^<]*' "$state/conf/yarn-site.xml" | sed 's/.*<value>//')"; else echo "YARN not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
