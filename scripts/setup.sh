#!/usr/bin/env bash
# Install everything wamc needs on this machine. Idempotent: a second run only
# checks and returns within a second or so.
#
#   bash scripts/setup.sh                 # install what is missing
#   bash scripts/setup.sh --browser-path  # only print the detected headless browser
#
# Installs (only when missing): python3-venv, nodejs/npm, curl and
# chromium-headless-shell via apt (falling back to Playwright's own headless
# shell download), the .venv/ with `pip install -e '.[test]'`, the wa-js bundle
# in vendor/wa-js/, and the logs/ and sessions/ folders. Writes nothing secret.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

WAJS_VERSION="${WAMC_WAJS_VERSION:-4.6.0}"
WAJS_DIR="$ROOT/vendor/wa-js"
WAJS_FILE="$WAJS_DIR/wppconnect-wa.js"
VENV="$ROOT/.venv"
STAMP="$VENV/.wamc-deps"
# A system Python by default: the service user must be able to run .venv's interpreter
# (pyenv's under /root is out of its reach).
SYSTEM_PYTHON="/usr/bin/python3"
PYTHON="${WAMC_PYTHON:-$SYSTEM_PYTHON}"
DEBIAN_CHROMIUM="/usr/lib/chromium/chromium-headless-shell"

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '[setup] %s\n' "$*" >&2; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die() {
    printf '[setup] ERROR: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- browser ---
# Mirrors the Python side: $WAMC_BROWSER_PATH, then Debian's
# chromium-headless-shell, then Playwright's downloaded headless shell
# (<browsers>/chromium_headless_shell-<rev>/chrome-headless-shell-linux64/chrome-headless-shell
# in Playwright >= 1.5x, .../chrome-linux/headless_shell in older releases).
playwright_browsers_dir() {
    local env="${PLAYWRIGHT_BROWSERS_PATH:-}"
    if [[ "$env" == "0" ]]; then
        local pkg
        for pkg in "$VENV"/lib/python3*/site-packages/playwright/driver/package; do
            [[ -d "$pkg" ]] && printf '%s/.local-browsers\n' "$pkg" && return 0
        done
        return 1
    elif [[ -n "$env" ]]; then
        printf '%s\n' "$env"
    else
        printf '%s/ms-playwright\n' "${XDG_CACHE_HOME:-$HOME/.cache}"
    fi
}

find_browser() {
    if [[ -n "${WAMC_BROWSER_PATH:-}" ]]; then
        [[ -x "$WAMC_BROWSER_PATH" ]] || return 1
        printf '%s\n' "$WAMC_BROWSER_PATH"
        return 0
    fi
    if [[ -x "$DEBIAN_CHROMIUM" ]]; then
        printf '%s\n' "$DEBIAN_CHROMIUM"
        return 0
    fi
    local dir rev_dir rev candidate found="" best=-1
    dir="$(playwright_browsers_dir)" || return 1
    # Newest revision wins.
    for rev_dir in "$dir"/chromium_headless_shell-*; do
        rev="${rev_dir##*-}"
        [[ "$rev" =~ ^[0-9]+$ ]] || continue
        ((10#$rev > best)) || continue
        for candidate in "$rev_dir"/chrome-*/chrome-headless-shell "$rev_dir"/chrome-*/headless_shell; do
            if [[ -x "$candidate" ]]; then
                found="$candidate"
                best=$((10#$rev))
                break
            fi
        done
    done
    [[ -n "$found" ]] || return 1
    printf '%s\n' "$found"
}

if [[ "${1:-}" == "--browser-path" ]]; then
    find_browser || die "no headless Chromium found"
    exit 0
fi

# -------------------------------------------------------------------- apt ---
APT_UPDATED=0
SUDO=()
if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
fi

apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        warn "not root and no sudo: cannot apt-get install $*"
        return 1
    fi
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq || return 1
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

want=()
command -v "$PYTHON" >/dev/null 2>&1 || want+=(python3)
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    want+=(python3-venv)
fi
command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
command -v curl >/dev/null 2>&1 || want+=(curl ca-certificates)
if [[ ${#want[@]} -gt 0 ]]; then
    apt_install "${want[@]}" || warn "could not apt-get install ${want[*]}"
fi

if [[ -z "${WAMC_PYTHON:-}" ]] && ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 &&
    command -v python3 >/dev/null 2>&1; then
    warn "$SYSTEM_PYTHON is missing or older than 3.11; using $(command -v python3)"
    PYTHON="$(command -v python3)"
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "python3 (>= 3.11) is required: apt-get install python3 python3-venv"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "python3 >= 3.11 is required (found $("$PYTHON" -V 2>&1)); set WAMC_PYTHON to a newer interpreter"

# ------------------------------------------------------------------- venv ---
# Whether every folder on the way to $1 lets others traverse it, and $1 lets them run it.
others_can_run() {
    local path dir="" part
    local -a parts
    path="$(command -v "$1")" && path="$(readlink -f "$path")" || return 1
    IFS=/ read -r -a parts <<<"${path#/}"
    for part in "${parts[@]}"; do
        dir="$dir/$part"
        [[ "$(stat -c %A "$dir" 2>/dev/null)" == *[xt] ]] || return 1
    done
}

# As root, wamc runs as another user (scripts/start.sh): the venv must come from an
# interpreter that user can reach.
if [[ "$(id -u)" -eq 0 ]] && ! others_can_run "$PYTHON"; then
    die "$PYTHON is not reachable by other users, so the service user could not run it.
  Use a system Python: apt-get install python3 python3-venv, then unset WAMC_PYTHON (default $SYSTEM_PYTHON)."
fi
if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 ||
    { [[ "$(id -u)" -eq 0 ]] && ! others_can_run "$VENV/bin/python"; }; then
    if [[ -e "$VENV" ]]; then
        if [[ -x "$VENV/bin/python" && "$(id -u)" -eq 0 ]] && ! others_can_run "$VENV/bin/python"; then
            warn ".venv was made from $(readlink -f "$VENV/bin/python"), which the service user cannot reach; recreating it from $PYTHON"
        else
            warn ".venv is broken or too old; recreating it"
        fi
        rm -rf "$VENV"
    fi
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
        die "python venv support is missing: apt-get install python3-venv"
    log "creating .venv"
    "$PYTHON" -m venv "$VENV"
fi

deps_stamp() {
    local hash
    hash="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    printf '%s %s\n' "$hash" "$ROOT"
}

want_stamp="$(deps_stamp)"
have_stamp="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want_stamp" != "$have_stamp" || ! -x "$VENV/bin/wamc" ]]; then
    log "pip install -e '.[test]'"
    "$VENV/bin/python" -m pip install -q -e ".[test]"
    printf '%s' "$want_stamp" >"$STAMP"
fi

# ---------------------------------------------------------------- browser ---
if ! browser="$(find_browser)"; then
    if [[ -n "${WAMC_BROWSER_PATH:-}" ]]; then
        die "WAMC_BROWSER_PATH=$WAMC_BROWSER_PATH is not an executable file"
    fi
    if ! apt_install chromium-headless-shell; then
        warn "apt-get install chromium-headless-shell failed; trying Playwright's download"
        # --with-deps also apt-installs the shared libraries (needs root + apt).
        if ! { command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" -eq 0 ]] &&
            "$VENV/bin/python" -m playwright install --with-deps chromium-headless-shell </dev/null; }; then
            "$VENV/bin/python" -m playwright install chromium-headless-shell </dev/null ||
                warn "playwright install chromium-headless-shell failed"
        fi
    fi
    browser="$(find_browser)" || die "no headless Chromium found.
  Install one of:
    - Debian/Ubuntu: apt-get install chromium-headless-shell   (gives $DEBIAN_CHROMIUM)
    - anywhere with network: .venv/bin/python -m playwright install --with-deps chromium-headless-shell
  or point WAMC_BROWSER_PATH at an existing Chromium/Chrome headless binary."
    log "browser: $browser"
fi

# ------------------------------------------------------------------ wa-js ---
if [[ -s "$WAJS_FILE" && "$(cat "$WAJS_DIR/VERSION" 2>/dev/null || true)" == "$WAJS_VERSION" ]]; then
    :
elif ! command -v npm >/dev/null 2>&1; then
    warn "npm is missing: cannot fetch @wppconnect/wa-js@$WAJS_VERSION into $WAJS_FILE."
    warn "Only needed against the real WhatsApp Web; the tests use the simulator."
else
    log "fetching @wppconnect/wa-js@$WAJS_VERSION"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    if (cd "$tmp" && npm pack --silent --no-fund --no-audit --no-update-notifier \
        "@wppconnect/wa-js@$WAJS_VERSION" >pack.out </dev/null) &&
        tar -xzf "$tmp"/*.tgz -C "$tmp" package/dist/wppconnect-wa.js &&
        [[ -s "$tmp/package/dist/wppconnect-wa.js" ]]; then
        mkdir -p "$WAJS_DIR"
        cp "$tmp/package/dist/wppconnect-wa.js" "$WAJS_FILE.tmp"
        mv -f "$WAJS_FILE.tmp" "$WAJS_FILE"
        printf '%s\n' "$WAJS_VERSION" >"$WAJS_DIR/VERSION"
        log "wa-js $WAJS_VERSION -> ${WAJS_FILE#"$ROOT"/}"
    else
        warn "could not fetch @wppconnect/wa-js@$WAJS_VERSION with npm."
        warn "Only needed against the real WhatsApp Web; the tests use the simulator."
    fi
fi

# ---------------------------------------------------------------- folders ---
mkdir -p "$ROOT/logs" "$ROOT/sessions"

exit 0
