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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import psutil
from loguru import logger

from wamc.config import Settings
from wamc.daemon.proofs import (
    is_client_browser,
    is_client_worker,
    kill_client_browser,
    kill_client_worker,
)
from wamc.wire.launch import LaunchOptions, encode_launch
from wamc.wire.process import kill_tree, worker_cmdline_matches


@dataclass
class WorkerHandle:
    client_id: str
    pid: int
    started: float  # the process's create time: a pid alone can be reused
    proc: subprocess.Popen[bytes] | None = None  # None when adopted from a previous daemon
    spawned: float = field(default_factory=time.monotonic)
    # Ray backend: the node it runs on and its placement's epoch (checked in its hello); and,
    # as its secret was made on that node (never sent over Ray), what the daemon keeps of it.
    node: str | None = None
    epoch: int | None = None
    secret_hash: str | None = None
    curve_public: str | None = None
    usage: dict[str, Any] | None = None  # memory and CPU as its node's agent last reported
    # What its spawn restored from the profile store on its node (Ray; see ProfileBackup.spawned).
    restore: dict[str, Any] | None = None

    def state(self) -> dict[str, float | int]:
        """What to persist so a later daemon can adopt this worker."""
        return {"worker_pid": self.pid, "worker_started": self.started}


# How a stop ended: the worker exited when asked (its browser closed gracefully, profile flushed),
# after a SIGTERM to the worker alone, or only when its group and browser were SIGKILLed.
StopOutcome = Literal["clean", "term", "kill"]
TERM_GRACE = 3.0  # seconds a worker gets after the escalating SIGTERM before the SIGKILL
ORPHAN_GRACE = 5.0  # seconds a browser whose worker is gone gets to exit by itself


class NoCapacity(Exception):
    """No node has a free slot: the client waits, stopped with ``last_error: no_capacity``."""


class Backend(Protocol):
    capacity_listeners: list[Callable[[], None]]  # told when a slot may have freed

    async def start(
        self, client_id: str, secret: str, launch: LaunchOptions | None = None
    ) -> WorkerHandle: ...
    def adopt(self, client_id: str, pid: int, started: float) -> WorkerHandle | None: ...
    async def wait(self, handle: WorkerHandle) -> int: ...
    def poll(self, handle: WorkerHandle) -> bool: ...
    async def stop(
        self, handle: WorkerHandle, timeout: float, browser_pid: int | None, asked: bool
    ) -> StopOutcome: ...
    def kill(self, handle: WorkerHandle, browser_pid: int | None) -> None: ...
    def kill_browser(self, client_id: str, browser_pid: int | None) -> bool: ...
    async def end_browser(self, client_id: str, browser_pid: int | None) -> bool: ...


class LocalProcessBackend:
    """Workers as local processes, each leading its own process group and session.

    Plain ``subprocess.Popen`` (not asyncio's, which kills its children when the loop closes):
    workers must outlive a daemon restart. Exits are watched through pidfds, which also work
    for adopted workers that are not our children.
    """

    def __init__(self, settings: Settings, server_key: bytes | None = None) -> None:
        """``server_key``: the daemon's public Curve key, given to workers of a TCP link."""
        self.settings = settings
        self.server_key = server_key
        # Called when a slot may have freed (placement backends): waiting clients retry.
        self.capacity_listeners: list[Callable[[], None]] = []

    def env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "WAMC_HOME": str(s.home),
                "WAMC_ZMQ_ENDPOINT": s.advertised_endpoint(),
                "WAMC_WHATSAPP_URL": s.whatsapp_url,
                "WAMC_WAJS_PATH": str(s.resolved_wajs_path()),
                "WAMC_HEARTBEAT_INTERVAL": str(s.heartbeat_interval),
                "WAMC_HEARTBEAT_TIMEOUT": str(s.heartbeat_timeout),
                "WAMC_WORKER_GRACE": str(s.worker_grace),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Two glibc malloc arenas instead of 8 per core: each thread that allocates (ZeroMQ's
        # I/O threads, Chromium's helpers outside its own allocator) would keep an arena of freed
        # memory (bench/memory.py). Only contention between those few threads changes.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        browser = s.resolved_browser_path()
        if browser:
            env["WAMC_BROWSER_PATH"] = browser
        env.pop("WAMC_API_KEY", None)  # a worker never needs the admin key
        for name in [n for n in env if n.startswith("RAY_")]:  # e.g. a host agent's Ray token
            env.pop(name)
        env.pop("WAMC_ZMQ_SERVER_KEY", None)
        if self.server_key is not None:
            env["WAMC_ZMQ_SERVER_KEY"] = self.server_key.decode()  # public: not a secret
        return env

    async def start(
        self, client_id: str, secret: str, launch: LaunchOptions | None = None
    ) -> WorkerHandle:
        """Spawn a worker; ``secret`` and then ``launch`` (it may hold a proxy password) reach it
        through a pipe on its stdin: never on a command line or in an environment
        (``/proc/<pid>/environ`` keeps what a process started with). The profile store works
        on this host (the supervisor's ``ProfileBackup``, default site)."""
        return self.spawn(client_id, secret, launch)

    def spawn(
        self,
        client_id: str,
        secret: str,
        launch: LaunchOptions | None = None,
        extra_env: dict[str, str] | None = None,
        fence: bool = False,
    ) -> WorkerHandle:
        """The process itself. ``fence``: stdin stays open (a host agent holds it) and the worker
        stops when it closes (workers/fence.py); otherwise it is closed after the secret."""
        env = self.env()
        env.update(extra_env or {})
        if fence:
            env["WAMC_FENCE"] = "1"
        stderr_path = self.settings.logs_dir / "clients" / f"{client_id}.stderr"
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        with open(stderr_path, "ab") as err:
            proc = subprocess.Popen(  # noqa: ASYNC220 - fork/exec returns at once
                # One argv element: an id can never be read as an option.
                [sys.executable, "-m", "workers", f"--client={client_id}"],
                stdin=subprocess.PIPE,
                stdout=err,
                stderr=err,
                start_new_session=True,
                env=env,
                cwd=str(project_root()),
            )
        assert proc.stdin is not None
        try:
            # Far below a pipe's buffer (64 KiB): never blocks.
            proc.stdin.write(
                secret.encode() + b"\n" + encode_launch(launch or LaunchOptions()) + b"\n"
            )
            proc.stdin.flush()
        except OSError:
            pass
        finally:
            if not fence:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
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
        if not worker_cmdline_matches(cmd, client_id):  # also the older ``--client ID`` form
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

    async def stop(
        self, handle: WorkerHandle, timeout: float, browser_pid: int | None, asked: bool
    ) -> StopOutcome:
        """Let the worker stop itself; escalate only when it does not.

        ``asked``: a ``stop`` frame reached the worker; if not, a SIGTERM to the worker alone
        asks instead (its handler takes the same graceful path). The worker closes Chromium
        itself, so the profile is flushed. Only after ``timeout``: SIGTERM to the worker alone,
        then SIGKILL to its group and its browser. Chromium, in a session of its own, never gets
        a signal before that: the worker is closing it, and it closes by itself if the worker dies.
        """
        log = logger.bind(client=handle.client_id)
        begun = time.monotonic()
        outcome: StopOutcome = "clean"
        if self.poll(handle):
            if not asked:
                self._term(handle)
            if await self._exited(handle, timeout):
                log.info(
                    "worker stopped cleanly (pid {}, {:.1f}s)", handle.pid, time.monotonic() - begun
                )
            else:
                log.warning(
                    "worker did not stop within {:.0f}s: SIGTERM to the worker (escalated)", timeout
                )
                outcome = "term"
                self._term(handle)
                if not await self._exited(handle, TERM_GRACE):
                    log.warning(
                        "worker still running: SIGKILL to its group and browser (escalated)"
                    )
                    outcome = "kill"
                    self.kill(handle, browser_pid)
                    await self._exited(handle, 5)
        if await self.end_browser(handle.client_id, browser_pid) and outcome != "kill":
            outcome = "kill"
        return outcome

    async def _exited(self, handle: WorkerHandle, timeout: float) -> bool:
        """Wait up to ``timeout`` for the worker to exit (and reap it if it is our child)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wait_exit(handle.pid), timeout)
        if handle.proc is not None:
            return handle.proc.poll() is not None
        return not self.poll(handle)

    def _term(self, handle: WorkerHandle) -> None:
        """SIGTERM to the worker process alone, never its group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if handle.proc is not None:
                handle.proc.send_signal(signal.SIGTERM)  # no-op once reaped: no pid reuse
            elif is_client_worker(handle.pid, handle.client_id, handle.started):
                os.kill(handle.pid, signal.SIGTERM)

    def kill(self, handle: WorkerHandle, browser_pid: int | None) -> None:
        """SIGKILL the worker's group and its browser, if ours."""
        profile = self.settings.client_dir(handle.client_id) / "profile"
        live = self.poll(handle)
        # Checked before the worker dies: while it lives, its browser must descend from it.
        browser_ours = is_client_browser(browser_pid, profile, handle.pid if live else None)
        if handle.proc is not None:
            if live:  # alive and unreaped: the pid is still ours
                kill_tree(handle.pid)
        else:
            kill_client_worker(handle.pid, handle.client_id, handle.started)
        if browser_ours and browser_pid:
            kill_tree(browser_pid)
        else:
            self.kill_browser(handle.client_id, browser_pid)  # re-parented or not ours: re-check

    async def end_browser(
        self, client_id: str, browser_pid: int | None, grace: float | None = None
    ) -> bool:
        """After its worker exited: let an orphaned Chromium finish its own shutdown (it closes
        when its worker's DevTools pipe does, flushing the profile), then SIGKILL it. True when killed."""
        profile = self.settings.client_dir(client_id) / "profile"
        if not browser_pid or not is_client_browser(browser_pid, profile):
            return False
        grace = ORPHAN_GRACE if grace is None else grace
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wait_exit(browser_pid), grace)
        if not self.kill_browser(client_id, browser_pid):
            return False
        logger.bind(client=client_id).warning(
            "browser (pid {}) outlived its worker by {:.0f}s: SIGKILLed", browser_pid, grace
        )
        return True

    def kill_browser(self, client_id: str, browser_pid: int | None) -> bool:
        """SIGKILL ``client_id``'s Chromium if ``browser_pid`` is proven to be it."""
        profile = self.settings.client_dir(client_id) / "profile"
        return kill_client_browser(browser_pid, profile, client_id)


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

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, settle)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def project_root() -> Path:
    """The folder holding ``wamc/`` and ``workers/``: the worker's cwd, so ``-m workers`` runs
    this checkout's worker (not another one an editable install points at)."""
    return Path(__file__).resolve().parents[2]


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
        raw: float = min(self.cap, self.base * 2 ** (len(self.failures) - 1))
        return raw * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures.clear()
