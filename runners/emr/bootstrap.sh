#!/usr/bin/env bash
# EMR bootstrap action. It runs on every node (as hadoop, with sudo) before EMR
# installs Flink and Spark, and installs im2tfrecord twice over: for the
# launcher on the master node, and for the Beam SDK workers that Flink and
# Spark start on the other nodes. EMR has no Docker for Beam's SDK images, so
# those workers are plain processes (Beam's PROCESS environment) that need the
# package on the node itself.
#
#   bootstrap.sh --package s3://YOUR-BUCKET/emr/im2tfrecord-0.1.0-py3-none-any.whl \
#                --jars s3://YOUR-BUCKET/emr/jars/ [--helpers s3://YOUR-BUCKET/emr/] \
#                [--wheelhouse s3://YOUR-BUCKET/emr/wheelhouse/]
#
#   --package  a wheel or sdist of im2tfrecord; pip installs the Beam it pins
#   --helpers  folder with sdk_worker.py, with_flink_master.sh and
#              spark_submit_java.sh (default: the package's folder)
#   --wheelhouse  folder with runners/emr/make_wheelhouse.sh's wheels: pip
#              installs from it alone (--no-index), for nodes with no route to
#              PyPI (a private subnet without NAT); without it, from PyPI
#   --jars     folder with the job servers as runners/emr/stage_jars.sh
#              leaves them (flink/job-server.jar, spark/job-server.jar, an
#              assembled one with its lib/, and VERSIONS); master only
#
# Leaves on every node:
#   /opt/im2tfrecord/venv                 Python 3.11, im2tfrecord, Beam
#   /opt/im2tfrecord/bin/sdk-worker       the PROCESS environment's command
#   /opt/im2tfrecord/bin/with-flink-master, spark-submit-java   step helpers
#   /opt/im2tfrecord/jars/{flink,spark}/job-server.jar   the job servers
#                                         (master only), whatever version
#                                         stage_jars.sh took
set -euo pipefail

BEAM_VERSION=2.77.0  # Must match the Beam that the package pins.
# Where everything goes; the steps name /opt/im2tfrecord (moved only by tests).
PREFIX="${IM2TFRECORD_PREFIX:-/opt/im2tfrecord}"

log() { echo "bootstrap: $*" >&2; }
usage() { echo "usage: $0 --package S3_URI --jars S3_FOLDER [--helpers S3_FOLDER] [--wheelhouse S3_FOLDER]" >&2; exit 2; }

package="" helpers="" jars="" wheelhouse=""
while [ $# -gt 0 ]; do
  case "$1" in
    --package) package="${2:-}"; shift 2 || usage ;;
    --helpers) helpers="${2:-}"; shift 2 || usage ;;
    --jars) jars="${2:-}"; shift 2 || usage ;;
    --wheelhouse) wheelhouse="${2:-}"; shift 2 || usage ;;
    *) usage ;;
  esac
done
[ -n "$package" ] && [ -n "$jars" ] || usage
helpers="${helpers:-${package%/*}}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch S3_FOLDER NAME -> $work/NAME
  aws s3 cp --only-show-errors "${1%/}/$2" "$work/$2"
}

# pip's source: PyPI, or only the wheelhouse.
pip_from=()
if [ -n "$wheelhouse" ]; then
  log "wheels from $wheelhouse (pip --no-index)"
  aws s3 cp --recursive --only-show-errors "${wheelhouse%/}/" "$work/wheelhouse/"
  pip_from=(--no-index --find-links "$work/wheelhouse")
fi

log "Python 3.11 into $PREFIX/venv"
sudo dnf install -y -q python3.11 python3.11-pip
sudo python3.11 -m venv "$PREFIX/venv"
sudo "$PREFIX/venv/bin/python3" -m pip install -q ${pip_from[@]+"${pip_from[@]}"} --upgrade pip

log "im2tfrecord from $package"
fetch "${package%/*}" "${package##*/}"  # pip reads the version from the file's own name
sudo "$PREFIX/venv/bin/python3" -m pip install -q ${pip_from[@]+"${pip_from[@]}"} "$work/${package##*/}"
installed="$(cd / && "$PREFIX/venv/bin/python3" -c 'import apache_beam; print(apache_beam.__version__)')"
if [ "$installed" != "$BEAM_VERSION" ]; then
  log "the package installed Beam $installed, but the job servers are for Beam $BEAM_VERSION"
  exit 1
fi

log "helpers from $helpers"
sudo mkdir -p "$PREFIX/bin" "$PREFIX/lib"
fetch "$helpers" sdk_worker.py
sudo install -m 644 "$work/sdk_worker.py" "$PREFIX/lib/sdk_worker.py"
for name in with_flink_master spark_submit_java; do
  fetch "$helpers" "$name.sh"
  sudo install -m 755 "$work/$name.sh" "$PREFIX/bin/${name//_/-}"
done

# The PROCESS command: Flink and Spark run it without a shell, so it must be
# one executable file, and with their container's environment, which may hold
# a Python set-up of its own (Spark's pyspark archives) that must not shadow
# the venv's packages.
sudo tee "$PREFIX/bin/sdk-worker" >/dev/null <<EOF
#!/bin/sh
# Beam SDK worker for --environment_type PROCESS; see $PREFIX/lib/sdk_worker.py.
unset PYTHONPATH PYTHONHOME
exec $PREFIX/venv/bin/python3 $PREFIX/lib/sdk_worker.py "\$@"
EOF
sudo chmod 755 "$PREFIX/bin/sdk-worker"

# Only the master runs the job servers (the launcher starts them there): the
# ones runners/job_server.sh assembled and the tests ran, copied whole.
if grep -q '"isMaster": *true' /mnt/var/lib/info/instance.json 2>/dev/null; then
  log "job servers from $jars"
  aws s3 cp --recursive --only-show-errors "${jars%/}/" "$work/jars/"
  for engine in flink spark; do
    [ -s "$work/jars/$engine/job-server.jar" ] || { log "no $engine/job-server.jar under $jars: upload runners/emr/stage_jars.sh's folder"; exit 1; }
  done
  # Which jars they are (and the Flink minor the Flink one needs: the
  # release's Flink must have it, runners/emr/README.md "Releases").
  while read -r line; do log "  $line"; done <"$work/jars/VERSIONS"
  sudo mkdir -p "$PREFIX/jars"
  sudo cp -r "$work/jars/." "$PREFIX/jars/"
fi

# Flink's and Spark's containers run as the yarn user.
sudo chmod -R a+rX "$PREFIX"
log "done"
