"""Kill only what is ours, stop without signalling the group: real processes, no Chromium.

Stand-ins are small Python processes whose command lines look like a worker or a Chromium; an
innocent ``sleep`` plays the process that got a stale pid (after a reboot it can be anyone's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from wamc.config import Settings
from wamc.daemon import backend as sup
from wamc.daemon import proofs as owned
from wamc.daemon.backend import LocalProcessBackend, WorkerHandle
from workers.__main__ import CLIENT_ID
from workers.__main__ import main as worker_main

SLEEP = "import time; time.sleep(120)"
IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def spawn(procs: list[subprocess.Popen[bytes]], *argv: str) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(list(argv), start_new_session=True)  # noqa: S603 - fixed argv
    procs.append(p)
    wait_cmdline(p.pid, argv[-1])
    return p


def wait_cmdline(pid: int, last: str) -> None:
    """Until exec is done (the cmdline is the new program's)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).cmdline()[-1:] == [last]:
                return
        except psutil.Error:
            pass
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never showed {last!r}")


def alive(p: subprocess.Popen[bytes]) -> bool:
    return p.poll() is None


def fake_browser(procs: list[subprocess.Popen[bytes]], profile: Path, *extra: str) -> Any:
    return spawn(procs, sys.executable, "-c", SLEEP, *extra, f"--user-data-dir={profile}")


def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


def profile_of(tmp_path: Path, client: str) -> Path:
    return settings(tmp_path).client_dir(client) / "profile"


# --- command lines ---------------------------------------------------------------------------
def test_worker_cmdline_both_forms_and_nothing_else() -> None:
    py = [sys.executable, "-m", "workers"]
    assert owned.worker_cmdline_matches([*py, "--client=acme"], "acme")
    assert owned.worker_cmdline_matches([*py, "--client", "acme"], "acme")  # an older daemon's
    assert not owned.worker_cmdline_matches([*py, "--client=acme"], "acm")
    assert not owned.worker_cmdline_matches([*py, "--client=acme2"], "acme")
    assert not owned.worker_cmdline_matches(["sleep", "--client=acme"], "acme")
    assert not owned.worker_cmdline_matches([], "acme")


def test_browser_cmdline_exact_profile_main_process_only(tmp_path: Path) -> None:
    prof = tmp_path / "sessions" / "a" / "profile"
    main = ["chromium", "--headless", f"--user-data-dir={prof}"]
    assert owned.browser_cmdline_matches(main, prof)
    assert not owned.browser_cmdline_matches([*main, "--type=renderer"], prof)
    assert not owned.browser_cmdline_matches(main, tmp_path / "sessions" / "b" / "profile")
    assert not owned.browser_cmdline_matches(["chromium", f"--user-data-dir={prof}x"], prof)
    assert not owned.browser_cmdline_matches(["sleep", "100"], prof)


@pytest.mark.parametrize("good", ["a", "Z9", "acme_1-x", "0" * 64])
def test_worker_accepts_ids(good: str) -> None:
    assert CLIENT_ID.fullmatch(good)


@pytest.mark.parametrize("bad", ["", "-rf", "_x", "acme\n", "a b", "a.b", "é", "a" * 65])
def test_worker_refuses_ids(bad: str) -> None:
    assert not CLIENT_ID.fullmatch(bad)
    assert worker_main([f"--client={bad}"]) == 2  # refused before any setup


# --- the innocent survives --------------------------------------------------------------------
def test_innocent_process_with_a_stale_browser_pid_survives(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    innocent = spawn(procs, "sleep", "120")
    backend = LocalProcessBackend(settings(tmp_path))
    assert not owned.is_client_browser(innocent.pid, profile_of(tmp_path, "acme"))
    assert not backend.kill_browser("acme", innocent.pid)
    assert not owned.kill_client_browser(innocent.pid, profile_of(tmp_path, "acme"), "acme")
    time.sleep(0.2)
    assert alive(innocent)


def test_innocent_process_with_a_stale_worker_pid_survives(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    innocent = spawn(procs, "sleep", "120")
    started = psutil.Process(innocent.pid).create_time()
    backend = LocalProcessBackend(settings(tmp_path))
    assert backend.adopt("acme", innocent.pid, started) is None
    assert not owned.kill_client_worker(innocent.pid, "acme", started)
    # A handle that was never ours (adopted, proc None) with an innocent pid: kill() spares it.
    backend.kill(WorkerHandle("acme", innocent.pid, started), innocent.pid)
    time.sleep(0.2)
    assert alive(innocent)


def test_another_clients_browser_survives(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    other = fake_browser(procs, profile_of(tmp_path, "other"))
    assert not LocalProcessBackend(settings(tmp_path)).kill_browser("acme", other.pid)
    time.sleep(0.2)
    assert alive(other)


def test_the_clients_own_browser_is_killed_with_its_group(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    prof = profile_of(tmp_path, "acme")
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SLEEP!r}]); time.sleep(120)"
    browser = spawn(procs, sys.executable, "-c", code, f"--user-data-dir={prof}")
    deadline = time.monotonic() + 10
    while not psutil.Process(browser.pid).children() and time.monotonic() < deadline:
        time.sleep(0.02)
    (child,) = psutil.Process(browser.pid).children()
    assert LocalProcessBackend(settings(tmp_path)).kill_browser("acme", browser.pid)
    browser.wait(5)
    psutil.wait_procs([child], timeout=5)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_a_browser_not_under_the_live_worker_is_refused(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    prof = profile_of(tmp_path, "acme")
    browser = fake_browser(procs, prof)
    stranger = spawn(procs, "sleep", "121")  # lives, but is not the browser's ancestor
    assert owned.is_client_browser(browser.pid, prof)
    assert not owned.is_client_browser(browser.pid, prof, worker_pid=stranger.pid)
    assert owned.is_client_browser(browser.pid, prof, worker_pid=os.getpid())  # our child


def test_worker_proof_needs_create_time_and_cmdline(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    for form in (["--client=acme"], ["--client", "acme"]):
        w = spawn(procs, sys.executable, "-c", SLEEP, "workers", *form)
        started = psutil.Process(w.pid).create_time()
        assert owned.is_client_worker(w.pid, "acme", started)
        assert not owned.is_client_worker(w.pid, "acme", started - 30)
        assert not owned.is_client_worker(w.pid, "other", started)
        handle = LocalProcessBackend(settings(tmp_path)).adopt("acme", w.pid, started)
        assert handle is not None and handle.proc is None


# --- stop: ask, then escalate, never the group first ----------------------------------------------
def handle_for(p: subprocess.Popen[bytes], client: str = "acme") -> WorkerHandle:
    return WorkerHandle(client, p.pid, psutil.Process(p.pid).create_time(), proc=p)


async def test_stop_signals_the_worker_alone_never_its_group(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    """A SIGTERM meant for the worker must not reach the rest of its group (a helper it
    started there, killed early, could take a graceful close with it)."""
    marker = tmp_path / "driver-got-sigterm"
    driver = (
        "import pathlib, signal, time\n"
        f"signal.signal(signal.SIGTERM, lambda *a: pathlib.Path({str(marker)!r}).touch())\n"
        "time.sleep(120)\n"
    )
    worker_code = (
        "import subprocess, sys, time\n"
        f"d = subprocess.Popen([sys.executable, '-c', {driver!r}])\n"
        "print(d.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    p = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [sys.executable, "-c", worker_code], start_new_session=True, stdout=subprocess.PIPE
    )
    procs.append(p)
    assert p.stdout is not None
    driver_pid = int(p.stdout.readline())
    assert os.getpgid(driver_pid) == p.pid  # the driver shares the worker's group
    backend = LocalProcessBackend(settings(tmp_path))
    outcome = await backend.stop(handle_for(p), timeout=10, browser_pid=None, asked=False)
    assert outcome == "clean"  # not asked by frame: the SIGTERM to the worker alone is the ask
    assert p.returncode == -signal.SIGTERM
    assert not marker.exists()
    os.kill(driver_pid, signal.SIGKILL)


async def test_stop_escalates_to_term_then_kill(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sup, "TERM_GRACE", 0.5)
    backend = LocalProcessBackend(settings(tmp_path))
    # Asked by frame but never exits by itself; a SIGTERM ends it.
    deaf = spawn(procs, sys.executable, "-c", SLEEP)
    began = time.monotonic()
    assert await backend.stop(handle_for(deaf), timeout=0.5, browser_pid=None, asked=True) == "term"
    assert time.monotonic() - began >= 0.5
    assert deaf.returncode == -signal.SIGTERM
    # Ignores SIGTERM too: its group and its browser are SIGKILLed.
    stubborn = spawn(procs, sys.executable, "-c", IGNORE_TERM)
    browser = fake_browser(procs, profile_of(tmp_path, "acme"))
    outcome = await backend.stop(
        handle_for(stubborn), timeout=0.5, browser_pid=browser.pid, asked=True
    )
    assert outcome == "kill"
    assert stubborn.returncode == -signal.SIGKILL
    assert browser.wait(5) == -signal.SIGKILL


async def test_a_browser_that_outlives_a_clean_worker_makes_it_a_kill(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sup, "ORPHAN_GRACE", 0.5)
    backend = LocalProcessBackend(settings(tmp_path))
    worker = spawn(procs, sys.executable, "-c", SLEEP)
    browser = fake_browser(procs, profile_of(tmp_path, "acme"))
    innocent = spawn(procs, "sleep", "122")
    outcome = await backend.stop(handle_for(worker), 5, browser_pid=browser.pid, asked=False)
    assert outcome == "kill" and browser.wait(5) == -signal.SIGKILL
    worker2 = spawn(procs, sys.executable, "-c", SLEEP)
    outcome = await backend.stop(handle_for(worker2), 5, browser_pid=innocent.pid, asked=False)
    assert outcome == "clean" and alive(innocent)
