#!/usr/bin/env bash
# Installs radtrio and what it needs into the current Python.
#   bash scripts/install.sh        # runtime only
#   bash scripts/install.sh dev    # plus the test tools
# A machine that already has torch (a CUDA build, say) keeps it; one without gets the
# CPU build pinned below, which these machines hold on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    "$PY" -m pip install -q "torch==2.13.0"
fi
extras=""
if [ "${1:-}" = "dev" ]; then extras="[dev]"; fi
"$PY" -m pip install -q -e ".${extras}"
