#!/usr/bin/env bash
# The unprivileged user wamc runs as (root only; scripts/start.sh calls it).
#
#   bash scripts/service-user.sh ensure    # create the system user and group (idempotent)
#   bash scripts/service-user.sh handover  # give it sessions/ and logs/ (sessions 0700, logs 0750)
#   bash scripts/service-user.sh check [PY]  # can it run PY (.venv/bin/python), import wamc? else the fix
#   bash scripts/service-user.sh grant     # let it traverse the checkout's parents (chmod o+x; CI)
#
# Environment: WAMC_USER (wamc) names the user and its group.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
USER_NAME="${WAMC_USER:-wamc}"
PY="$ROOT/.venv/bin/python"

log() { printf '[service-user] %s\n' "$*" >&2; }
die() {
    printf '[service-user] ERROR: %s\n' "$*" >&2
    exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root"
[[ "$USER_NAME" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || die "WAMC_USER=$USER_NAME is not a valid user name"

# runuser, like supervisord, drops root before exec (setpriv still holds root's capabilities
# while it execs, so it reaches files the user cannot).
as_user() { runuser -u "$USER_NAME" -- "$@"; }

ensure() {
    if ! getent group "$USER_NAME" >/dev/null; then
        groupadd --system -f "$USER_NAME"
    fi
    if ! getent passwd "$USER_NAME" >/dev/null; then
        # A concurrent run may win the race: only fail if the user still does not exist.
        useradd --system --gid "$USER_NAME" --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin --comment "wamc service" "$USER_NAME" 2>/dev/null ||
            getent passwd "$USER_NAME" >/dev/null ||
            die "could not create the system user $USER_NAME (useradd)"
        log "created system user $USER_NAME"
    fi
    [[ "$(id -u "$USER_NAME")" -ne 0 ]] || die "WAMC_USER=$USER_NAME is root: choose an unprivileged user"
}

handover() {
    # sessions/ and logs/ sit in the checkout (not the service's to replace); what is inside
    # them is the service's, so root never creates or changes anything there by path: a
    # symlink planted by the service would make root write where it points.
    mkdir -p "$ROOT/sessions" "$ROOT/logs"
    # -h: a symlink is changed itself, never what it points to.
    find -H "$ROOT/sessions" "$ROOT/logs" \( ! -user "$USER_NAME" -o ! -group "$USER_NAME" \) \
        -exec chown -h "$USER_NAME:$USER_NAME" {} +
    # The daemon tightens the files it owns at start; the folders are set here.
    chmod 0700 "$ROOT/sessions"
    chmod 0750 "$ROOT/logs"
    as_user mkdir -p "$ROOT/sessions/.home" || log "cannot create sessions/.home"
    as_user chmod 0700 "$ROOT/sessions/.home" || log "cannot make sessions/.home private"
}

# The first folder on the way to $1 the user cannot traverse (or $1 itself if unreadable).
blocker() {
    local path="$1" dir="" part
    local -a parts
    IFS=/ read -r -a parts <<<"${path#/}"
    for part in "${parts[@]}"; do
        dir="$dir/$part"
        if [[ -d "$dir" ]]; then
            as_user test -x "$dir" || {
                printf '%s\n' "$dir"
                return 0
            }
        else
            as_user test -r "$dir" || {
                printf '%s\n' "$dir"
                return 0
            }
        fi
    done
    return 1
}

check() {
    PY="${1:-$PY}"
    if (cd / && as_user "$PY" -c 'import wamc.cli, workers, playwright') >/dev/null 2>&1; then
        return 0
    fi
    local interp target bad
    interp="$(readlink -f "$PY" 2>/dev/null || true)"
    log "ERROR: the service user $USER_NAME cannot run $PY and import wamc."
    for target in "$interp" "$ROOT/pyproject.toml" "$(dirname "$(dirname "$PY")")/pyvenv.cfg"; do
        [[ -n "$target" ]] || continue
        if bad="$(blocker "$target")"; then
            log "  it cannot reach $bad ($(stat -c '%A %U:%G' "$bad"))"
            if [[ "$target" == "$interp" && "$interp" != "$ROOT"/* ]]; then
                if [[ "$PY" == "$ROOT/.venv/bin/"* ]]; then
                    log "  fix: bash scripts/setup.sh (as root it rebuilds .venv from /usr/bin/python3)"
                else
                    log "  fix: use a venv made from a system Python: bash scripts/setup.sh builds $ROOT/.venv so"
                fi
            else
                log "  fix: move the checkout under a folder others can traverse (e.g. /opt/wamc),"
                log "       or allow traversal: chmod o+x $bad"
            fi
            return 1
        fi
    done
    log "  (is .venv complete? bash scripts/setup.sh)"
    return 1
}

# Let the user traverse every folder on the way to the checkout (chmod o+x: traverse, not list).
grant() {
    local bad
    while bad="$(blocker "$ROOT/pyproject.toml")"; do
        [[ -d "$bad" ]] || die "$bad is not readable by $USER_NAME"
        log "letting $USER_NAME traverse $bad (chmod o+x)"
        chmod o+x "$bad"
    done
}

case "${1:-}" in
    ensure) ensure ;;
    handover) handover ;;
    check) check "${2:-}" ;;
    grant) grant ;;
    *) die "usage: $0 ensure|handover|check|grant" ;;
esac
