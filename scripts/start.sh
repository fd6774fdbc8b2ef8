#!/usr/bin/env bash
# Set everything up, run wamc under supervisord and wait until /health answers.
#
#   bash scripts/start.sh               # against WhatsApp Web
#   bash scripts/start.sh --simulator   # against the bundled simulator (a demo without a phone)
#
# --simulator runs `wamc simulator` as a second supervisord program on WAMC_SIMULATOR_PORT (4100)
# and points wamc at it (WAMC_WHATSAPP_URL, WAMC_WAJS_PATH); the mode holds until
# `bash scripts/stop.sh --all`. Environment: WAMC_HOST (127.0.0.1), WAMC_PORT (4000), WAMC_START_TIMEOUT (60 s),
# WAMC_SKIP_SETUP=1 to skip scripts/setup.sh, WAMC_USER (wamc) the unprivileged user wamc
# runs as when started by root (created if missing; it gets sessions/ and logs/). supervisord
# passes its own environment on to wamc, so variables only take effect when supervisord starts.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
CONF="$ROOT/supervisord.conf"
HOST="${WAMC_HOST:-127.0.0.1}"
PORT="${WAMC_PORT:-4000}"
TIMEOUT="${WAMC_START_TIMEOUT:-60}"
RUN="$ROOT/run"
SOCK="$RUN/supervisor.sock"

log() { printf '[start] %s\n' "$*" >&2; }

MODE=whatsapp
case "${1:-}" in
    "") ;;
    --simulator) MODE=simulator ;;
    *)
        log "usage: bash scripts/start.sh [--simulator]"
        exit 2
        ;;
esac
MODE_FILE="$RUN/mode"  # the mode supervisord was started in (its environment holds it)
SIM_PORT="${WAMC_SIMULATOR_PORT:-4100}"

if [[ "${WAMC_SKIP_SETUP:-0}" != "1" ]]; then
    bash "$ROOT/scripts/setup.sh"
fi

if [[ ${#SOCK} -ge 100 ]]; then
    log "ERROR: the supervisor socket path is too long for a unix socket (${#SOCK} bytes):"
    log "  $SOCK"
    log "Move the checkout to a shorter path."
    exit 1
fi

sctl() { "$ROOT/.venv/bin/supervisorctl" -c "$CONF" "$@"; }

# A supervisord of the previous layout (socket in logs/) is shut down first.
OLD_SOCK="$ROOT/logs/supervisor.sock"
if [[ -S "$OLD_SOCK" ]] && "$ROOT/.venv/bin/supervisorctl" -s "unix://$OLD_SOCK" pid >/dev/null 2>&1; then
    log "stopping the supervisord that still uses logs/supervisor.sock"
    "$ROOT/.venv/bin/supervisorctl" -s "unix://$OLD_SOCK" shutdown >/dev/null || true
    for _ in $(seq 60); do
        [[ -S "$OLD_SOCK" ]] || break
        sleep 0.5
    done
fi

# ------------------------------------------------------------ service user ---
if [[ "$(id -u)" -eq 0 ]]; then
    export WAMC_USER="${WAMC_USER:-wamc}"
    bash "$ROOT/scripts/service-user.sh" ensure
    bash "$ROOT/scripts/service-user.sh" check || exit 1
    bash "$ROOT/scripts/service-user.sh" handover
    # supervisord's own folder: root's, readable by the service's group (operators).
    install -d -o root -g "$WAMC_USER" -m 2750 "$RUN"
else
    if [[ -n "${WAMC_USER:-}" && "$WAMC_USER" != "$(id -un)" ]]; then
        log "WARNING: WAMC_USER=$WAMC_USER needs root; running as $(id -un)"
    fi
    export WAMC_USER="$(id -un)"
    mkdir -p "$RUN" "$ROOT/sessions/.home"
fi
log "wamc runs as user $WAMC_USER"

if [[ "$MODE" == simulator ]]; then
    export WAMC_SIMULATOR_PORT="$SIM_PORT"
    export WAMC_WHATSAPP_URL="http://127.0.0.1:$SIM_PORT/"
    WAMC_WAJS_PATH="$("$ROOT/.venv/bin/python" -c 'from wamc.simulator.server import WAJS_PATH; print(WAJS_PATH)')"
    export WAMC_WAJS_PATH
fi
describe() { if [[ "$1" == simulator ]]; then echo "the simulator"; else echo "WhatsApp Web"; fi; }

show_logs() {
    local f
    for f in "$ROOT/logs/wamc.log" "$RUN/wamc.stdout.log"; do
        if [[ -s "$f" ]]; then
            printf '\n----- last lines of %s -----\n' "${f#"$ROOT"/}" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

if sctl pid >/dev/null 2>&1; then
    running="$(cat "$MODE_FILE" 2>/dev/null || echo whatsapp)"
    if [[ "$running" != "$MODE" ]]; then
        flag=""
        if [[ "$MODE" == simulator ]]; then flag=" --simulator"; fi
        log "ERROR: supervisord already runs wamc against $(describe "$running"); the two modes do not mix."
        log "Switch with: bash scripts/stop.sh --all && bash scripts/start.sh$flag"
        exit 1
    fi
    if [[ "$MODE" == simulator ]]; then
        sctl start simulator >/dev/null 2>&1 || true
    fi
    state="$(sctl status wamc 2>/dev/null | awk '{print $2}' || true)"
    case "$state" in
        RUNNING | STARTING) log "wamc is already $state under supervisord" ;;
        *)
            log "supervisord is running; starting wamc"
            sctl start wamc || true
            ;;
    esac
else
    log "starting supervisord ($CONF) against $(describe "$MODE")"
    echo "$MODE" >"$MODE_FILE"
    "$ROOT/.venv/bin/supervisord" -c "$CONF"
    if [[ "$MODE" == simulator ]] && ! sctl start simulator >/dev/null; then
        log "ERROR: the simulator did not start (port $SIM_PORT taken? set WAMC_SIMULATOR_PORT)"
        tail -n 20 "$RUN/simulator.stdout.log" >&2 || true
        exit 1
    fi
fi

url="http://$HOST:$PORT"
log "waiting up to ${TIMEOUT}s for $url/health"
deadline=$((SECONDS + TIMEOUT))
until curl -fsS --max-time 2 "$url/health" >/dev/null 2>&1; do
    state="$(sctl status wamc 2>/dev/null | awk '{print $2}' || true)"
    if [[ "$state" == "FATAL" ]]; then
        log "ERROR: wamc failed to start (supervisord state FATAL)"
        show_logs
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        log "ERROR: $url/health did not answer within ${TIMEOUT}s (wamc state: ${state:-unknown})"
        show_logs
        exit 1
    fi
    sleep 1
done

# The WhatsApp URL the daemon really uses (its own answer, not this script's guess).
wa_url="$(WAMC_HOME="$ROOT" "$ROOT/.venv/bin/wamc" status --json 2>/dev/null |
    "$ROOT/.venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["system"]["whatsapp_url"])' 2>/dev/null ||
    echo "unknown (see: .venv/bin/wamc status)")"

cat <<EOF

wamc is running at $url
  WhatsApp:   $wa_url
  health:     $url/health
  dashboard:  $url/admin/instances
  API docs:   $url/api-docs
  API key:    .venv/bin/wamc api-key
  user:       $WAMC_USER (operators in group $WAMC_USER can read logs/ and run/)
  logs:       logs/wamc.log, logs/clients/<id>.log (raw output: run/wamc.stdout.log)
  control:    .venv/bin/supervisorctl -c supervisord.conf status|start|stop|restart wamc
EOF
if [[ "$MODE" == simulator ]]; then
    cat <<EOF

Simulator mode, no phone needed (README "Try it without a phone"):
  .venv/bin/wamc clients connect demo
  .venv/bin/wamc simulator scan demo
  .venv/bin/wamc simulator deliver demo --from 5511900000077 --text "hello"
  back to WhatsApp Web: bash scripts/stop.sh --all && bash scripts/start.sh
EOF
fi
