"""The host agent (Ray backend): one per node, runs that node's workers as local processes.

The Ray backend (wamc/daemon/ray_backend.py) wraps :class:`HostAgent` as a detached, named actor
pinned to its node; this module itself never imports Ray. Spawning is the local backend's own
(:class:`LocalProcessBackend`), with two differences:

- The worker's secret is made HERE, on the node, and goes to the worker over its stdin pipe
  only. The daemon gets back what it keeps anyway (the secret's hash, the Curve public key
  derived from it): neither lets anyone in. Ray's traffic is not encrypted, so no secret is ever
  an actor argument or a return value; and unlike a secret sent over a Curve side channel or a
  file on a shared mount, a secret born on its node never travels at all.
- The agent keeps the pipe's write end open: a worker stops when its agent dies (fencing,
  workers/fence.py); the placement's epoch goes to the worker (``WAMC_EPOCH``) for its hello.

Each node keeps its own files: ``WAMC_HOME`` is the node's own (the agent's environment, e.g.
set for ``ray start``), else the daemon's. The profile store's file work runs here, where the
profile lives: a spawn restores a missing profile from ``WAMC_PROFILE_STORE`` (a shared mount,
the same path on every node) before the worker starts and returns what happened; ``snapshot``
stores the profile after a clean stop (the daemon holds the client's profile lock meanwhile).

Everything given to the agent (node id, worker settings, protocol version) is public.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from typing import Any

import msgspec
import psutil

from wamc.config import load_settings
from wamc.daemon.backend import LocalProcessBackend, StopOutcome, WorkerHandle
from wamc.daemon.inbox import new_secret
from wamc.daemon.profiles.site import finish, restore_missing, restore_outcome, snapshot_profile
from wamc.daemon.profiles.snapshots import LINEAGE
from wamc.daemon.profiles.store import FolderStore
from wamc.daemon.resources import client_usage
from wamc.log import tail_lines
from wamc.validation import is_client_id
from wamc.wire.curve import worker_keys
from wamc.wire.launch import decode_launch

AGENT_PROTOCOL = 2  # daemon ⇄ agent; both sides check it in the handshake


class ProtocolMismatch(RuntimeError):
    pass


def node_env(worker_env: dict[str, str]) -> dict[str, str]:
    """The daemon's worker settings with this node's own ``WAMC_HOME`` when it has one."""
    env = dict(worker_env)
    own = os.environ.get("WAMC_HOME")
    if own:
        env["WAMC_HOME"] = own
    return env


class HostAgent:
    def __init__(self, node_id: str, worker_env: dict[str, str], protocol: int) -> None:
        self.node_id = node_id
        self.workers: dict[str, WorkerHandle] = {}
        self.worker_env = node_env(worker_env)
        self.local = self._backend(self.worker_env)
        self.daemon_protocol = protocol

    @staticmethod
    def _backend(worker_env: dict[str, str]) -> LocalProcessBackend:
        settings = load_settings({**os.environ, **worker_env})
        key = worker_env.get("WAMC_ZMQ_SERVER_KEY")
        return LocalProcessBackend(settings, key.encode() if key else None)

    async def hello(self, protocol: int, worker_env: dict[str, str]) -> dict[str, Any]:
        """The handshake: protocol versions checked both ways; the daemon's current settings
        taken for the next spawns (an agent outlives daemon restarts)."""
        if protocol != AGENT_PROTOCOL:
            raise ProtocolMismatch(f"daemon speaks agent protocol {protocol}, not {AGENT_PROTOCOL}")
        self.worker_env = node_env(worker_env)
        self.local = self._backend(self.worker_env)
        return {
            "protocol": AGENT_PROTOCOL,
            "node": self.node_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "workers": {c: h.pid for c, h in self.workers.items() if self.local.poll(h)},
        }

    async def spawn(self, client_id: str, epoch: int, launch: str = "") -> dict[str, Any]:
        """Start the client's worker on this node; never two of one client. ``launch``: the
        browser's launch options as JSON (never with credentials: see RayBackend.start)."""
        old = self.workers.pop(client_id, None)
        if old is not None and self.local.poll(old):
            self.local.kill(old, None)
        restored = await self._restore(client_id)
        secret, secret_hash = new_secret()
        env = {**self.worker_env, "WAMC_EPOCH": str(epoch)}
        options = decode_launch(launch)
        handle = self.local.spawn(client_id, secret, options, extra_env=env, fence=True)
        self.workers[client_id] = handle
        return {
            "pid": handle.pid,
            "started": handle.started,
            "secret_hash": secret_hash,
            "curve_public": worker_keys(secret)[0].decode(),
            "profile": restored,
        }

    def _store(self) -> FolderStore:
        """The profile store as this node sees it: it must already be there (a shared mount
        that failed to mount must not silently become an empty local folder)."""
        root = self.local.settings.profile_store
        if root is None:
            raise RuntimeError("no WAMC_PROFILE_STORE given to this node's agent")
        if not root.is_dir():
            raise FileNotFoundError(f"WAMC_PROFILE_STORE {root} is not a folder on this node")
        return FolderStore(root)

    async def _restore(self, client_id: str) -> dict[str, Any] | None:
        """A missing profile restored from the store before the worker starts: the restore's
        fields, ``{"failed": reason}`` (the worker starts fresh), or None (a profile is here)."""
        if self.local.settings.profile_store is None:
            return None
        try:
            store = self._store()
            settings = self.local.settings
            result = await finish(asyncio.to_thread(restore_missing, store, settings, client_id))
        except Exception as exc:
            return {"failed": str(exc)[:500]}
        return restore_outcome(result)

    async def snapshot(self, client_id: str, keep: int) -> dict[str, Any]:
        """The client's profile here (its browser closed: a clean stop) into the store; its
        manifest. Raises when it cannot be taken (the daemon shows why in the status)."""
        if not is_client_id(client_id):
            raise ValueError("invalid client id")
        store, settings = self._store(), self.local.settings
        manifest = await finish(
            asyncio.to_thread(snapshot_profile, store, settings, client_id, max(1, int(keep)))
        )
        result: dict[str, Any] = msgspec.to_builtins(manifest)
        return result

    def _handle(self, client_id: str, pid: int) -> WorkerHandle | None:
        handle = self.workers.get(client_id)
        return handle if handle is not None and handle.pid == pid else None

    async def wait(self, client_id: str, pid: int) -> int:
        """Until that worker exits: its exit code (-1: not a worker of this agent)."""
        handle = self._handle(client_id, pid)
        if handle is None:
            return -1
        code = await self.local.wait(handle)
        if self.workers.get(client_id) is handle:
            del self.workers[client_id]
        return code

    async def has(self, client_id: str, pid: int, started: float) -> bool:
        handle = self._handle(client_id, pid)
        return (
            handle is not None and abs(handle.started - started) < 1.0 and self.local.poll(handle)
        )

    async def stop(
        self, client_id: str, pid: int, timeout: float, browser_pid: int | None, asked: bool
    ) -> StopOutcome:
        handle = self._handle(client_id, pid)
        if handle is None:
            return "clean"
        return await self.local.stop(handle, timeout, browser_pid, asked)

    async def kill(self, client_id: str, pid: int, browser_pid: int | None) -> None:
        handle = self._handle(client_id, pid)
        if handle is not None:
            self.local.kill(handle, browser_pid)

    async def drop(self, client_id: str) -> bool:
        """Kill whatever worker of the client runs here (one the daemon could not adopt)."""
        handle = self.workers.pop(client_id, None)
        if handle is None or not self.local.poll(handle):
            return False
        self.local.kill(handle, None)
        return True

    async def wipe(self, client_id: str, everything: bool) -> bool:
        """A deleted client's folder on this node (``everything``), or a logged-out one's
        profile: never to come back here. Not while a worker of it runs here."""
        if not is_client_id(client_id):
            raise ValueError("invalid client id")
        handle = self.workers.get(client_id)
        if handle is not None and self.local.poll(handle):
            return False
        folder = self.local.settings.client_dir(client_id)
        targets = [folder] if everything else [folder / "profile", folder / LINEAGE]

        def remove() -> None:
            for target in targets:
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    target.unlink(missing_ok=True)

        await asyncio.to_thread(remove)
        return True

    async def end_browser(self, client_id: str, browser_pid: int | None) -> bool:
        return await self.local.end_browser(client_id, browser_pid)

    async def logs(self, client_id: str, count: int) -> list[str]:
        """The last lines of the client's log on this node (the API's logs endpoint)."""
        if not is_client_id(client_id):  # a path is made of it
            raise ValueError("invalid client id")
        path = self.local.settings.logs_dir / "clients" / f"{client_id}.log"
        return await asyncio.to_thread(tail_lines, path, max(1, min(count, 10_000)))

    async def report(self) -> dict[str, Any]:
        """This node's memory and CPU, and each of its clients' (the dashboard, placement)."""
        mem = psutil.virtual_memory()
        return {
            "node": self.node_id,
            "pid": os.getpid(),  # a new one: Ray restarted this agent (its workers were fenced)
            "memory_available_bytes": mem.available,
            "memory_total_bytes": mem.total,
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpus": psutil.cpu_count() or 0,
            "clients": {
                c: {"pid": h.pid, **client_usage(h.pid, None)} for c, h in self.workers.items()
            },
        }
