#!/usr/bin/env bash
# Stop wamc under supervisord.
#
#   bash scripts/stop.sh         # stop the wamc program (supervisord keeps running)
#   bash scripts/stop.sh --all   # also shut supervisord down
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
sctl() { "$ROOT/.venv/bin/supervisorctl" -c "$ROOT/supervisord.conf" "$@"; }

if [[ ! -x "$ROOT/.venv/bin/supervisorctl" ]] || ! sctl pid >/dev/null 2>&1; then
    echo "[stop] supervisord is not running" >&2
    exit 0
fi

if [[ "${1:-}" == "--all" ]]; then
    sctl stop wamc || true
    sctl shutdown
    rm -f "$ROOT/run/mode"  # the next start.sh chooses the mode (--simulator or not) afresh
else
    sctl stop wamc
fi
