#!/usr/bin/env bash
# Restart wamc under supervisord and wait until /health answers.
# Starts supervisord first if it is not running.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
sctl() { "$ROOT/.venv/bin/supervisorctl" -c "$ROOT/supervisord.conf" "$@"; }

bash "$ROOT/scripts/setup.sh"
if sctl pid >/dev/null 2>&1; then
    sctl restart wamc
fi
mode=()  # keep the mode supervisord runs in (scripts/start.sh --simulator)
if [[ "$(cat "$ROOT/run/mode" 2>/dev/null)" == simulator ]]; then mode=(--simulator); fi
WAMC_SKIP_SETUP=1 exec bash "$ROOT/scripts/start.sh" "${mode[@]}"
