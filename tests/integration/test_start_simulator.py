"""``bash scripts/start.sh --simulator`` in a copied home on free ports, then the README session.

The copy holds what start.sh needs (scripts/, supervisord.conf, a .venv link to this
interpreter's); PYTHONPATH makes the daemon, the simulator and the CLI import this checkout.
As root, wamc runs as the service user, like on a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.service_user import SERVICE_USER, ensure_service_user, open_folder
from tests.support import REPO, free_port, processes_under


async def sh(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=240
    )


def copied_home(base: Path) -> Path:
    home = base / "wamc"
    home.mkdir()
    shutil.copytree(REPO / "scripts", home / "scripts")
    shutil.copy(REPO / "supervisord.conf", home / "supervisord.conf")
    (home / ".venv").symlink_to(Path(sys.prefix))
    return home


async def test_start_simulator_then_the_readme_session(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        if os.geteuid() == 0:
            ensure_service_user()
            user = SERVICE_USER
            base = stack.enter_context(open_folder())
        else:
            user, base = pwd.getpwuid(os.getuid()).pw_name, tmp_path
        home = copied_home(base)
        port, sim_port = free_port(), free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WAMC_")},
            "WAMC_SKIP_SETUP": "1",  # the copy uses this checkout's set-up
            "WAMC_USER": user,
            "WAMC_PORT": str(port),
            "WAMC_SIMULATOR_PORT": str(sim_port),
            "PYTHONPATH": str(REPO),
        }
        try:
            await session(home, env, port, sim_port)
        finally:
            await sh(["bash", "scripts/stop.sh", "--all"], env, home)
            for proc in processes_under(home):
                proc.kill()


async def session(home: Path, env: dict[str, str], port: int, sim_port: int) -> None:
    started = await sh(["bash", "scripts/start.sh", "--simulator"], env, home)
    assert started.returncode == 0, started.stderr[-3000:]
    sim_url = f"http://127.0.0.1:{sim_port}/"
    assert f"  WhatsApp:   {sim_url}\n" in started.stdout, started.stdout
    assert "wamc simulator scan demo" in started.stdout
    assert (home / "run" / "mode").read_text().strip() == "simulator"

    mixed = await sh(["bash", "scripts/start.sh"], env, home)
    assert mixed.returncode == 1
    assert "already runs wamc against the simulator" in mixed.stderr
    assert "bash scripts/stop.sh --all && bash scripts/start.sh\n" in mixed.stderr

    cli_env = {**env, "WAMC_HOME": str(home)}  # the copy's home (the code is this checkout's)
    second = await sh([str(home / ".venv/bin/wamc"), "serve"], cli_env, home)
    assert second.returncode == 1 and "already runs" in second.stderr
    assert "bash scripts/stop.sh" in second.stderr

    # The README's session, command for command.
    wamc = str(home / ".venv" / "bin" / "wamc")
    for cmd in (
        [wamc, "clients", "connect", "demo"],
        [wamc, "simulator", "scan", "demo"],
        [wamc, "simulator", "deliver", "demo", "--from", "5511900000077", "--text", "hello"],
    ):
        run = await sh(cmd, cli_env, home)
        assert run.returncode == 0, f"{cmd}: {run.stderr}"
    status = await sh([wamc, "status", "--json"], cli_env, home)
    assert '"whatsapp_url": "' + sim_url + '"' in status.stdout
    key = (await sh([wamc, "api-key"], cli_env, home)).stdout.strip()
    async with (
        aiohttp.ClientSession(headers={"X-Api-Key": key}) as http,
        http.get(f"http://127.0.0.1:{port}/api/clients/demo/messages/recent") as r,
    ):
        messages = (await r.json())["messages"]
    assert [(m["body"], m["from"]) for m in messages] == [("hello", "5511900000077@c.us")]

    again = await sh(["bash", "scripts/start.sh", "--simulator"], env, home)
    assert again.returncode == 0 and "already RUNNING" in again.stderr, again.stderr
