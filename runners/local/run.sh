#!/usr/bin/env bash
# Local run: Beam's in-process runner, all cores (the decode stage's thread
# pool). Only runner options differ between targets; see runners/README.md.
#   runners/local/run.sh --input ./photos --output ./shards --num_shards 8
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
exec "${PYTHON:-$here/.venv/bin/python}" -m pipeline "$@"
