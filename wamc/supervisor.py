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
import subprocess
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
    started: float  # the process's create time: a pid alone can be reused
    proc: subprocess.Popen[bytes] | None = None  # None when adopted from a previous daemon
    spawned: float = field(default_factory=time.monotonic)

    def state(self) -> dict[str, float | int]:
        """What to persist so a later daemon can adopt this worker."""
        return {"worker_pid": self.pid, "worker_started": self.started}


class Backend(Protocol):
    async def start(self, client_id: str) -> WorkerHandle: ...
    def adopt(self, client_id: str, pid: int, started: float) -> WorkerHandle | None: ...
    async def wait(self, handle: WorkerHandle) -> int: ...
    def poll(self, handle: WorkerHandle) -> bool: ...
    async def stop(self, handle: WorkerHandle, timeout: float, browser_pid: int | None) -> None: ...


class LocalProcessBackend:
    """Workers as local processes, each leading its own process group and session.

    Plain ``subprocess.Popen`` (not asyncio's, which kills its children when the loop closes):
    workers must outlive a daemon restart. Exits are watched through pidfds, which also work
    for adopted workers that are not our children.
    """

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
                "WAMC_WORKER_GRACE": str(s.worker_grace),
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
            proc = subprocess.Popen(  # noqa: ASYNC220 - fork/exec returns at once
                [sys.executable, "-m", "workers", "--client", client_id],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
                env=self.env(),
                cwd=str(project_root()),
            )
        started = create_time(proc.pid) or time.time()
        return WorkerHandle(client_id=client_id, pid=proc.pid, started=started, proc=proc)

    def adopt(self, client_id: str, pid: int, started: float) -> WorkerHandle | None:
        """A live worker of ``client_id`` left by a previous daemon, or None."""
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - started) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            cmd = proc.cmdline()
        except psutil.Error:
            return None
        if "workers" not in cmd or cmd[-2:] != ["--client", client_id]:
            return None
        return WorkerHandle(client_id=client_id, pid=pid, started=started, proc=None)

    async def wait(self, handle: WorkerHandle) -> int:
        await wait_exit(handle.pid)
        if handle.proc is not None:
            return handle.proc.wait()  # already exited: this only reaps it
        return -1  # not our child: the exit code went to its new parent

    def poll(self, handle: WorkerHandle) -> bool:
        if handle.proc is not None:
            return handle.proc.poll() is None
        return create_time(handle.pid) == handle.started

    async def stop(self, handle: WorkerHandle, timeout: float, browser_pid: int | None) -> None:
        """SIGTERM the worker's group, wait, then SIGKILL it and its browser's group."""
        if self.poll(handle):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(handle.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wait_exit(handle.pid), timeout)
        kill_group(handle.pid)
        if browser_pid:
            kill_group(browser_pid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wait_exit(handle.pid), 5)
        if handle.proc is not None:
            handle.proc.poll()


def create_time(pid: int) -> float | None:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except psutil.Error:
        return None


async def wait_exit(pid: int) -> None:
    """Wait until ``pid`` exits (child or not), without a thread per process."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(fd, lambda: done.done() or done.set_result(None))
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


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

    def give_up(self) -> None:
        """A failure no retry can fix: exhausted until reset."""
        now = time.monotonic()
        self.failures.extend([now] * max(0, self.max_failures - len(self.failures)))

    def delay(self) -> float:
        if not self.failures:
            return 0.0
        raw = min(self.cap, self.base * 2 ** (len(self.failures) - 1))
        return raw * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures.clear()
