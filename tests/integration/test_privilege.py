"""Least privilege with the real thing: a daemon as the unprivileged service user runs Chromium
with its sandbox and keeps private modes; as root, workers refuse unless WAMC_ALLOW_ROOT=1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.service_user import ensure_service_user, give, needs_root, open_folder
from tests.support import REPO, Daemon, wait_for
from wamc.wire.process import ROOT_REFUSED
from workers.stdio import CAP

PHONE = "5511900000071"


@pytest.fixture
def service_user() -> pwd.struct_passwd:
    return ensure_service_user()


@pytest.fixture
def open_base() -> Iterator[Path]:
    with open_folder() as base:
        yield base


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def tree(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def user_ns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/user")


def seccomp(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Seccomp:"):
            return int(line.split()[1])
    return -1


def renderers(browser_pid: int) -> list[psutil.Process]:
    return [p for p in tree(browser_pid) if "--type=renderer" in p.cmdline()]


@needs_root
async def test_unprivileged_daemon_runs_chromium_sandboxed(
    service_user: pwd.struct_passwd, open_base: Path, simulator: Any, sim_http: Any
) -> None:
    uid, gid = service_user.pw_uid, service_user.pw_gid
    home = open_base / "home"
    clients = home / "logs" / "clients"
    clients.mkdir(parents=True)
    (home / "sessions" / ".wamc").mkdir(mode=0o755, parents=True)  # as an older version left it
    (home / "sessions").chmod(0o755)
    (home / "tmp").mkdir()
    old_log = home / "logs" / "wamc.2026-01-01_00-00-00_000000.log"  # rotated by an older version
    old_log.write_text("from an older version\n")
    old_log.chmod(0o644)
    old_stderr = b"x" * 99 + b"\n"
    (clients / "u1.stderr").write_bytes(old_stderr * (CAP // 100 + 1000))  # over the cap
    give(service_user, home)

    d = Daemon(home, simulator, {"HOME": str(home), "TMPDIR": str(home / "tmp")})
    d.env.pop("WAMC_ALLOW_ROOT")
    d.popen_kw = {"user": uid, "group": gid, "extra_groups": []}
    try:
        await d.start()
        st = await d.connect_scanned(sim_http, "u1", PHONE)
        assert st["state"] == "connected"
        assert psutil.Process(d.proc.pid).uids() == (uid, uid, uid)  # type: ignore[union-attr]

        # The worker and every Chromium process run as the service user...
        worker = psutil.Process(st["pid"])
        procs = tree(worker.pid)
        assert len(procs) >= 4  # the worker, Chromium and its helpers
        assert {p.uids().real for p in procs} == {uid}
        assert {p.uids().effective for p in procs} == {uid}
        # ... Chromium without --no-sandbox, and its renderers really are sandboxed:
        browser = psutil.Process(st["browser_pid"])
        assert any("--user-data-dir=" in a for a in browser.cmdline())
        for p in tree(browser.pid):
            assert "--no-sandbox" not in p.cmdline(), p.cmdline()
        rends = await wait_for(lambda: renderers(browser.pid), timeout=30, what="a renderer")
        for r in rends:
            assert user_ns(r.pid) != user_ns(browser.pid)  # its own user namespace
            assert seccomp(r.pid) == 2  # seccomp-bpf filter on

        # Sessions private, logs for the service's group, all owned by the service user.
        sessions, logs = home / "sessions", home / "logs"
        expected = {
            sessions: 0o700,
            sessions / ".wamc": 0o700,
            logs: 0o750,
            clients: 0o750,
            logs / "wamc.log": 0o640,  # created after the umask is set
            old_log: 0o640,  # narrowed at start
            clients / "u1.log": 0o640,
            clients / "u1.stderr": 0o640,
        }
        assert {p: mode(p) for p in expected} == expected
        for p in [*expected, sessions / ".wamc" / "wamc.db", sessions / "u1"]:
            assert (p.stat().st_uid, p.stat().st_gid) == (uid, gid), p
        assert mode(sessions / ".wamc" / "wamc.db") & 0o007 == 0

        # The worker rotated its over-cap stderr before starting the browser.
        assert (clients / "u1.stderr.1").read_bytes().startswith(old_stderr)
        assert (clients / "u1.stderr.1").stat().st_size > CAP
        assert (clients / "u1.stderr").stat().st_size < CAP
    finally:
        await d.close()


@needs_root
async def test_root_daemon_without_allow_root_fails_the_client_at_once(make_daemon: Any) -> None:
    d = await make_daemon({"WAMC_ALLOW_ROOT": "0"})
    code, body = await d.call("POST", "/api/clients/r1/connect")
    assert code == 202, body
    st = await d.wait_state("r1", "failed", timeout=60)
    assert st["last_error"] == ROOT_REFUSED
    assert st["restarts"] == 1  # no retry loop: no retry could help
    assert st["pid"] is None
    stderr = (d.home / "logs" / "clients" / "r1.stderr").read_text()
    assert "WAMC_ALLOW_ROOT=1" in stderr
    assert "running as root" in (d.home / "logs" / "wamc.log").read_text()


@needs_root
async def test_root_worker_allowed_warns_once_and_disables_the_sandbox(daemon: Daemon) -> None:
    code, body = await daemon.call("POST", "/api/clients/a1/connect")
    assert code == 202, body
    await daemon.qr("a1")
    st = await daemon.status("a1")
    assert "--no-sandbox" in psutil.Process(st["browser_pid"]).cmdline()
    log = (daemon.home / "logs" / "clients" / "a1.log").read_text()
    assert log.count("running as root (WAMC_ALLOW_ROOT=1)") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (it runs the handover as root)")
def test_handover_never_chmods_through_a_service_symlink() -> None:
    """scripts/service-user.sh handover runs as root at every start and ends with
    ``chmod 0700 sessions/.home``; sessions/ belongs to the service user, who can make ``.home``
    a symlink: root then changes the mode of any folder the service names."""
    from tests.service_user import SERVICE_USER, open_folder, service_user_sh

    assert service_user_sh("ensure").returncode == 0
    with open_folder() as base:
        checkout, target = base / "co", base / "target"
        (checkout / "scripts").mkdir(parents=True)
        checkout.chmod(0o755)
        target.mkdir()
        target.chmod(0o755)
        shutil.copy(REPO / "scripts" / "service-user.sh", checkout / "scripts")
        for name in ("sessions", "logs"):
            (checkout / name).mkdir()
            shutil.chown(checkout / name, SERVICE_USER, SERVICE_USER)
        planted = subprocess.run(
            ["runuser", "-u", SERVICE_USER, "--", "ln", "-s", str(target), "sessions/.home"],
            cwd=checkout,
            capture_output=True,
            text=True,
        )
        assert planted.returncode == 0, planted.stderr
        subprocess.run(
            ["bash", str(checkout / "scripts" / "service-user.sh"), "handover"],
            env={**os.environ, "WAMC_USER": SERVICE_USER},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stat.S_IMODE(target.stat().st_mode) == 0o755
