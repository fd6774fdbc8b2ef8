"""Proof that a pid is one client's own process, asked before it is signalled.

A pid from a worker's frame or from the database is a claim, not a fact: the process may have
ended and the pid been reused (after a reboot it can be anyone's), or a misbehaving worker may
report another client's browser. Only a process proven to be that client's gets a signal:

- a worker: created when we recorded (within a second) and started as ``-m workers --client=ID``
  (or the older ``--client ID``);
- a browser: Chromium's main process with ``--user-data-dir=<that client's profile>`` and, while
  the client's worker lives, one of its descendants.
"""

from __future__ import annotations

from pathlib import Path

import psutil
from loguru import logger

# The command-line facts and kill_tree are the wire's (the worker uses them too).
from wamc.wire.process import browser_cmdline_matches, kill_tree, worker_cmdline_matches

CREATE_TIME_SLACK = 1.0  # psutil's create time is derived from boot time and clock ticks


def _live(pid: int | None) -> psutil.Process | None:
    if not pid or pid <= 1:
        return None
    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc
    except psutil.Error:
        return None


def is_client_worker(pid: int | None, client_id: str, started: float | None) -> bool:
    """Is ``pid`` the worker of ``client_id`` that was created at ``started``?"""
    proc = _live(pid)
    if proc is None:
        return False
    try:
        if started is not None and abs(proc.create_time() - started) > CREATE_TIME_SLACK:
            return False
        return worker_cmdline_matches(proc.cmdline(), client_id)
    except psutil.Error:
        return False


def is_client_browser(pid: int | None, profile_dir: Path, worker_pid: int | None = None) -> bool:
    """Is ``pid`` the Chromium on ``profile_dir`` (under ``worker_pid`` while that one lives)?"""
    proc = _live(pid)
    if proc is None:
        return False
    try:
        if not browser_cmdline_matches(proc.cmdline(), profile_dir):
            return False
        worker = _live(worker_pid)
        if worker is not None:
            return any(p.pid == worker.pid for p in proc.parents())
        return True  # its worker is gone: Chromium was re-parented; its profile is the proof
    except psutil.Error:
        return False


def kill_client_browser(
    pid: int | None, profile_dir: Path, client_id: str, worker_pid: int | None = None
) -> bool:
    """SIGKILL the client's browser tree if ``pid`` is proven to be it; True when killed."""
    proven = bool(pid) and is_client_browser(pid, profile_dir, worker_pid)
    return _kill_if_proven(pid, proven, client_id, "browser")


def kill_client_worker(pid: int | None, client_id: str, started: float | None) -> bool:
    """SIGKILL the client's worker group (the worker and anything it started there) if proven ours."""
    proven = bool(pid) and is_client_worker(pid, client_id, started)
    return _kill_if_proven(pid, proven, client_id, "worker")


def _kill_if_proven(pid: int | None, proven: bool, client_id: str, what: str) -> bool:
    if not pid:
        return False
    if not proven:
        if _live(pid) is not None:
            logger.bind(client=client_id).warning(
                "not signalling pid {}: not this client's {}", pid, what
            )
        return False
    kill_tree(pid)
    return True
