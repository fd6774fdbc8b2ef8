"""Operating wamc: supervisord start/stop/restart with the repo's supervisord.conf, and the CLI."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.service_user import ensure_service_user, give, open_folder
from tests.support import API_KEY, REPO, Daemon, free_port, processes_under, wait_for


def run(
    cmd: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


async def health(port: int) -> dict[str, Any] | None:
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{port}/health") as r,
        ):
            return await r.json() if r.status == 200 else None
    except aiohttp.ClientError:
        return None


async def test_supervisorctl_start_restart_stop(tmp_path: Path, simulator: Any) -> None:
    """The repo's supervisord.conf, run from a copy (its %(here)s is the home of this run).

    As root, the program runs as the service user (``user=``), like scripts/start.sh does it.
    """
    with contextlib.ExitStack() as stack:
        if os.geteuid() == 0:
            user = ensure_service_user()
            home = stack.enter_context(open_folder()) / "wamc"
        else:
            user, home = pwd.getpwuid(os.getuid()), tmp_path / "wamc"
        for sub in ("logs", "sessions", "run"):
            (home / sub).mkdir(parents=True)
        give(user, home / "logs", home / "sessions")
        await supervised(home, user, simulator)


async def supervised(home: Path, user: pwd.struct_passwd, simulator: Any) -> None:
    shutil.copy(REPO / "supervisord.conf", home / "supervisord.conf")
    (home / ".venv").symlink_to(REPO / ".venv")
    port = free_port()
    env = {
        **os.environ,
        "WAMC_USER": user.pw_name,
        "WAMC_PORT": str(port),
        "WAMC_API_KEY": API_KEY,
        "WAMC_WHATSAPP_URL": simulator.url,
        "WAMC_WAJS_PATH": str(simulator.wajs_path),
    }
    env.pop("WAMC_ALLOW_ROOT", None)
    bin_dir = REPO / ".venv" / "bin"
    ctl = [str(bin_dir / "supervisorctl"), "-c", str(home / "supervisord.conf")]
    started = run([str(bin_dir / "supervisord"), "-c", str(home / "supervisord.conf")], env, home)
    assert started.returncode == 0, started.stderr
    try:
        first = await wait_for(lambda: health(port), 60, what="/health under supervisord")
        headers = {"X-Api-Key": API_KEY}
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.post(f"http://127.0.0.1:{port}/api/clients/sup/connect") as r:
                assert r.status == 202

            async def worker_pid() -> int | None:
                async with s.get(f"http://127.0.0.1:{port}/api/clients/sup/status") as r:
                    st = await r.json()
                    return st["pid"] if st["state"] == "qr" else None

            pid = await wait_for(worker_pid, 60, what="client in qr")
            worker = psutil.Process(pid)
            procs = [psutil.Process(first["pid"]), worker, *worker.children(recursive=True)]
            assert {p.uids().effective for p in procs} == {user.pw_uid}
            out = run([*ctl, "restart", "wamc"], env)
            assert out.returncode == 0 and "started" in out.stdout, out.stdout + out.stderr
            second = await wait_for(lambda: health(port), 60, what="/health after restart")
            assert second["pid"] != first["pid"]
            # The restarted daemon adopted the same worker.
            assert await wait_for(worker_pid, 30, what="client adopted") == pid
        out = run([*ctl, "stop", "wamc"], env)
        assert out.returncode == 0 and "stopped" in out.stdout
        assert await health(port) is None
        out = run([*ctl, "start", "wamc"], env)
        assert out.returncode == 0 and "started" in out.stdout
        await wait_for(lambda: health(port), 60, what="/health after start")
    finally:
        run([*ctl, "shutdown"], env)
        for proc in processes_under(home):
            proc.kill()


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "wamc.cli", *args], env)


async def test_cli_talks_to_the_daemon_and_explains_errors(daemon: Daemon) -> None:
    env = {k: v for k, v in daemon.env.items()}
    out = cli(["clients", "connect", "clienty"], env)
    assert out.returncode == 0, out.stderr
    assert '"id": "clienty"' in out.stdout
    await daemon.wait_state("clienty", "qr")
    out = cli(["clients", "list"], env)
    assert out.returncode == 0 and "clienty" in out.stdout and "qr" in out.stdout
    out = cli(["clients", "send", "clienty", "5511999999999", "hi"], env)
    assert out.returncode == 1 and "409" in out.stderr and "not connected" in out.stderr
    assert "Traceback" not in out.stderr
    out = cli(["clients", "status", "no.dots"], env)
    assert out.returncode == 2 and "client ids are" in out.stderr and "Traceback" not in out.stderr
    out = cli(["clients", "status", "ghost"], env)
    assert out.returncode == 1 and "404" in out.stderr
    out = cli(["clients", "disconnect", "clienty"], env)
    assert out.returncode == 0
    await daemon.wait_state("clienty", "stopped")
    down = {**env, "WAMC_PORT": str(free_port())}
    out = cli(["clients", "list"], down)
    assert out.returncode == 1 and "does not answer" in out.stderr and "Traceback" not in out.stderr
    out = cli(["api-key"], env)
    assert out.returncode == 0 and out.stdout.strip() == API_KEY
