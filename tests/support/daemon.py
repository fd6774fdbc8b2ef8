"""A real ``wamc serve`` daemon as a subprocess, for tests and bench/; and stray-process cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.support.wait import wait_for

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-key-0123456789abcdef-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A ``wamc serve`` subprocess plus an HTTP client for its API."""

    COMMAND = ["-m", "wamc.cli", "serve"]  # after the interpreter; a subclass may serve otherwise
    START_TIMEOUT = 30.0  # seconds until /health answers

    def __init__(self, home: Path, sim: Any, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sim = sim
        self.env = {
            **os.environ,
            "WAMC_HOME": str(home),
            "WAMC_PORT": str(self.port),
            "WAMC_API_KEY": API_KEY,
            "WAMC_WHATSAPP_URL": sim.url,
            "WAMC_WAJS_PATH": str(sim.wajs_path),
            "WAMC_HEARTBEAT_INTERVAL": "0.5",
            "WAMC_HEARTBEAT_TIMEOUT": "8",
            "WAMC_RESTART_BACKOFF_BASE": "0.5",
            "WAMC_ALLOW_ROOT": "1",  # tests run as root; tests/integration/test_privilege.py does not
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None
        self.popen_kw: dict[str, Any] = {}  # e.g. user=/group= to run it unprivileged

    async def start(self) -> None:
        log = open(self.home / "daemon.out", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [sys.executable, *self.COMMAND],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **self.popen_kw,
        )
        if self.http is None:
            self.http = aiohttp.ClientSession(headers={"X-Api-Key": API_KEY})
        await wait_for(self._healthy, timeout=self.START_TIMEOUT, what="daemon /health")

    async def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"daemon exited: {self.tail()}")
        try:
            async with self.http.get(self.base + "/health") as r:  # type: ignore[union-attr]
                return r.status == 200
        except aiohttp.ClientError:
            return False

    def tail(self, n: int = 40) -> str:
        path = self.home / "daemon.out"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""
        )

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.to_thread(self.proc.wait, timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    async def close(self) -> None:
        await self.stop()
        kill_strays(self.home)
        if self.http is not None:
            await self.http.close()

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, **kw) as r:  # type: ignore[union-attr]
            ctype = r.headers.get("Content-Type", "")
            body: Any = await r.read()
            if "json" in ctype:
                body = json.loads(body)
            return r.status, body

    async def status(self, client: str) -> dict[str, Any]:
        code, body = await self.call("GET", f"/api/clients/{client}/status")
        assert code == 200, body
        return body

    async def qr(self, client: str, timeout: float = 60) -> str:
        """The client's current QR payload, once it shows one."""

        async def probe() -> str | None:
            code, body = await self.call("GET", f"/api/clients/{client}/qr?format=json")
            return body["qr"] if code == 200 else None

        return await wait_for(probe, timeout=timeout, what=f"a QR for {client}")

    async def connect_scanned(self, sim_http: Any, client: str, phone: str) -> dict[str, Any]:
        """Create/start ``client``, scan its QR as ``phone``; its status once connected."""
        code, body = await self.call("POST", f"/api/clients/{client}/connect")
        assert code == 202, body
        await sim_http.scan(await self.qr(client), phone)
        return await self.wait_state(client, "connected")

    async def wait_state(self, client: str, state: str, timeout: float = 60) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            st = await self.status(client)
            return st if st["state"] == state else None

        return await wait_for(probe, timeout=timeout, what=f"{client} to be {state}")


def processes_under(home: Path) -> list[psutil.Process]:
    """Worker and Chromium processes that belong to the run in ``home``."""
    needle = str(home)
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(proc.info["cmdline"] or [])
            env = proc.info["environ"] or {}
            if needle in cmd or env.get("WAMC_HOME") == needle:
                found.append(proc)
    return found


def kill_strays(home: Path) -> None:
    for proc in processes_under(home):
        with contextlib.suppress(psutil.Error):
            proc.kill()
