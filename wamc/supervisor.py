"""Starting and stopping worker processes, behind a small backend interface.

Like JupyterHub's spawners: ``start`` / ``stop`` / ``poll`` and the state to persist, so a backend
that places workers on other hosts can be added without touching the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil

from wamc.config import Settings


@dataclass
class WorkerHandle:
    client_id: str
    pid: int
    started: float = field(default_factory=time.monotonic)
    proc: asyncio.subprocess.Process | None = None

    def state(self) -> dict[str, int]:
        return {"pid": self.pid}


class Backend(Protocol):
    async def start(self, client_id: str) -> WorkerHandle: ...
    async def wait(self, handle: WorkerHandle) -> int: ...
    def poll(self, handle: WorkerHandle) -> bool: ...
    async def stop(self, handle: WorkerHandle, timeout: float, browser_pid: int | None) -> None: ...


class LocalProcessBackend:
    """Workers as local processes, each leading its own process group."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "WAMC_HOME": str(s.home),
                "WAMC_ZMQ_ENDPOINT": s.endpoint(),
                "WAMC_WHATSAPP_URL": s.whatsapp_url,
                "WAMC_WAJS_PATH": str(s.resolved_wajs_path()),
                "WAMC_HEARTBEAT_INTERVAL": str(s.heartbeat_interval),
                "WAMC_HEARTBEAT_TIMEOUT": str(s.heartbeat_timeout),
                "PYTHONUNBUFFERED": "1",
                # Playwright's node driver: a smaller young generation saves ~20 MB per worker.
                "NODE_OPTIONS": "--max-semi-space-size=1",
            }
        )
        browser = s.resolved_browser_path()
        if browser:
            env["WAMC_BROWSER_PATH"] = browser
        env.pop("WAMC_API_KEY", None)  # a worker never needs the admin key
        return env

    async def start(self, client_id: str) -> WorkerHandle:
        stderr_path = self.settings.logs_dir / "clients" / f"{client_id}.stderr"
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        with open(stderr_path, "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "workers",
                "--client",
                client_id,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
                env=self.env(),
                cwd=str(project_root()),
            )
        return WorkerHandle(client_id=client_id, pid=proc.pid, proc=proc)

    async def wait(self, handle: WorkerHandle) -> int:
        assert handle.proc is not None
        return await handle.proc.wait()

    def poll(self, handle: WorkerHandle) -> bool:
        return handle.proc is not None and handle.proc.returncode is None

    async def stop(self, handle: WorkerHandle, timeout: float, browser_pid: int | None) -> None:
        """SIGTERM the worker's group, wait, then SIGKILL it and its browser's group."""
        if self.poll(handle):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(handle.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait(handle), timeout)
        kill_group(handle.pid)
        if browser_pid:
            kill_group(browser_pid)
        if handle.proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(handle.proc.wait(), 5)


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def kill_group(pid: int) -> None:
    """SIGKILL a process group led by ``pid`` (workers and Chromium each lead one)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).kill()


class Backoff:
    """Exponential restart delay with jitter; too many quick failures in a window → give up."""

    def __init__(self, base: float, cap: float, max_failures: int, window: float) -> None:
        self.base = base
        self.cap = cap
        self.max_failures = max_failures
        self.window = window
        self.failures: deque[float] = deque()

    def record_failure(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.failures.append(now)
        while self.failures and now - self.failures[0] > self.window:
            self.failures.popleft()

    def exhausted(self) -> bool:
        return len(self.failures) >= self.max_failures

    def delay(self) -> float:
        if not self.failures:
            return 0.0
        raw = min(self.cap, self.base * 2 ** (len(self.failures) - 1))
        return raw * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures.clear()
