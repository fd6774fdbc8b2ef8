"""``wamc doctor``: what stands between this machine and a working wamc, each with its fix."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from wamc.cli.http import ApiError, daemon_url, fetch, settings
from wamc.cli.output import json_option, render_table, show
from wamc.config import DEFAULT_WHATSAPP_URL, Settings

GIB = 1024**3
DISK_FAIL, DISK_WARN = 1 * GIB, 5 * GIB


@dataclass
class Check:
    check: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def chromium(s: Settings) -> Check:
    path = s.resolved_browser_path()
    if path and os.access(path, os.X_OK):
        return Check("chromium", "ok", path)
    fix = (
        "apt-get install chromium-headless-shell (bash scripts/setup.sh), or set WAMC_BROWSER_PATH"
    )
    return Check("chromium", "fail", f"no headless Chromium found ({path or 'none'})", fix)


def wajs(system: dict[str, Any] | None, s: Settings) -> Check:
    path = Path(system["wajs_path"]) if system else s.resolved_wajs_path()
    if path.is_file() and os.access(path, os.R_OK):
        return Check("wa-js bundle", "ok", str(path))
    fix = "bash scripts/setup.sh (installs @wppconnect/wa-js into vendor/wa-js), or WAMC_WAJS_PATH"
    return Check("wa-js bundle", "fail", f"{path} is missing or unreadable", fix)


def daemon(s: Settings) -> tuple[Check, dict[str, Any] | None]:
    base = daemon_url(s)
    try:
        health = fetch(base + "/health", timeout=5)
    except (OSError, ApiError) as exc:
        if _port_taken(s):
            return Check(
                "daemon port",
                "fail",
                f"port {s.port} is taken, but not by wamc ({exc})",
                f"stop that program (ss -ltnp 'sport = :{s.port}') or set WAMC_PORT",
            ), None
        return Check(
            "daemon port", "warn", f"nothing answers at {base}", "bash scripts/start.sh"
        ), None
    try:
        system = fetch(base + "/api/system", headers={"X-Api-Key": s.ensure_api_key()}, timeout=5)
    except (OSError, ApiError):
        system = None
    detail = f"wamc {health.get('version')} answers at {base} (pid {health.get('pid')})"
    return Check("daemon port", "ok", detail), system


def _port_taken(s: Settings) -> bool:
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::", "") else s.host
    try:
        with socket.create_connection((host, s.port), timeout=2):
            return True
    except OSError:
        return False


def whatsapp(system: dict[str, Any] | None) -> Check | None:
    url = str(system["whatsapp_url"]) if system else ""
    if not url or url.rstrip("/") == DEFAULT_WHATSAPP_URL.rstrip("/"):
        return None
    try:
        fetch(url.rstrip("/") + "/control/health", timeout=5)
    except (OSError, ApiError) as exc:
        fix = "supervisorctl -c supervisord.conf start simulator (or run: wamc simulator)"
        return Check(
            "simulator", "fail", f"the daemon uses {url}, which does not answer ({exc})", fix
        )
    return Check("simulator", "ok", f"the daemon uses the simulator at {url}")


def disk(s: Settings) -> Check:
    free = shutil.disk_usage(s.home if s.home.exists() else Path("/")).free
    detail = f"{free / GIB:.1f} GiB free under {s.home}"
    fix = f"free space on the filesystem of {s.home} (each client keeps a Chromium profile)"
    if free < DISK_FAIL:
        return Check("disk", "fail", detail, fix)
    return Check(
        "disk", "warn" if free < DISK_WARN else "ok", detail, fix if free < DISK_WARN else ""
    )


def permissions(s: Settings) -> list[Check]:
    out = []
    sessions = s.sessions_dir
    if sessions.exists() and sessions.stat().st_mode & 0o077:
        mode = oct(sessions.stat().st_mode & 0o777)
        out.append(
            Check(
                "permissions",
                "fail",
                f"{sessions} is {mode}: others may read sessions and keys",
                f"chmod 700 {sessions}",
            )
        )
    logs = s.logs_dir
    if logs.exists() and not os.access(logs, os.R_OK | os.X_OK):
        out.append(
            Check(
                "permissions",
                "warn",
                f"{logs} is not readable by this user (wamc logs reads through the API)",
                "usermod -aG wamc $USER, then log in again",
            )
        )
    return out or [Check("permissions", "ok", f"{sessions} is private; {logs} is readable")]


def supervisord(s: Settings) -> Check:
    conf = s.home / "supervisord.conf"
    ctl = Path(sys.executable).parent / "supervisorctl"
    if not conf.is_file() or not ctl.exists():
        return Check("supervisord", "warn", f"no {conf} (wamc not run under supervisord)")
    try:
        out = subprocess.run(
            [str(ctl), "-c", str(conf), "status"], capture_output=True, text=True, timeout=15
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("supervisord", "warn", f"supervisorctl failed ({exc})")
    states = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2)
    if "wamc" not in states:
        return Check(
            "supervisord",
            "warn",
            "supervisord does not answer (not running, or its socket is root's)",
            "bash scripts/start.sh",
        )
    if states["wamc"] not in ("RUNNING", "STARTING"):
        return Check(
            "supervisord",
            "fail",
            f"wamc is {states['wamc']} under supervisord",
            "see run/wamc.stdout.log, then: supervisorctl -c supervisord.conf start wamc",
        )
    listed = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    return Check("supervisord", "ok", listed)


def run_checks(s: Settings) -> list[Check]:
    port, system = daemon(s)
    checks = [chromium(s), wajs(system, s), port]
    sim = whatsapp(system)
    if sim is not None:
        checks.append(sim)
    return [*checks, disk(s), *permissions(s), supervisord(s)]


@click.command()
@json_option
def doctor(as_json: bool) -> None:
    """Check Chromium, the wa-js bundle, ports, disk, permissions and supervisord."""
    checks = run_checks(settings())
    failed = any(c.status == "fail" for c in checks)
    data = {"ok": not failed, "checks": [asdict(c) for c in checks]}
    show(data, as_json, _table)
    if failed:
        sys.exit(1)


def _table(data: dict[str, Any]) -> str:
    rows = [(c["check"], c["status"].upper(), c["detail"], c["fix"]) for c in data["checks"]]
    verdict = "all good" if data["ok"] else "problems found: apply the fixes above"
    return render_table(("check", "status", "detail", "fix"), rows) + "\n\n" + verdict
