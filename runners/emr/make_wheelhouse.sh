#!/usr/bin/env bash
# A wheelhouse for `bootstrap.sh --wheelhouse`: im2tfrecord's wheel and a
# wheel of everything it installs, so that nodes with no route to PyPI (a
# private subnet without NAT) install with `pip --no-index`:
#
#   runners/emr/make_wheelhouse.sh OUT
#   aws s3 cp OUT s3://YOUR-BUCKET/emr/wheelhouse/ --recursive
#
# Run it on Linux x86-64 with Python 3.11, as EMR's nodes are (this machine
# is): pip takes the published wheels for this platform and builds the few
# projects published only as source (crcmod, for one) here.
# Idempotent: OUT is replaced as a whole.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 OUT_FOLDER" >&2; exit 2; }
out="$1"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
# Wheels for another Python or machine would not install on the nodes.
platform="$("$python" -c 'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()}")')"
[ "$platform" = "3.11 x86_64" ] || {
  echo "make_wheelhouse: EMR's nodes run Python 3.11 on x86_64, this is $platform (PYTHON=... names another)" >&2
  exit 1
}
rm -rf "$out.partial"
mkdir -p "$out.partial"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$out.partial" "$root"
# Everything the package needs, and pip itself (bootstrap.sh upgrades it from here).
"$python" -m pip wheel --quiet --wheel-dir "$out.partial" "$out.partial"/im2tfrecord-*.whl pip
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
