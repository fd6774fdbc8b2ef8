"""Least privilege, the parts that need no daemon: root refusal, stderr cap, version probe, modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO
from wamc.daemon.backend import Backoff
from wamc.privilege import secure_tree
from wamc.wire.process import EXIT_ROOT_REFUSED
from workers.chromium import chrome_major


def worker_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAMC_")}
    return {**env, "WAMC_HOME": str(home), **extra}


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal only happens as root")
@pytest.mark.parametrize("value", [None, "0"])
def test_worker_refuses_root(tmp_path: Path, value: str | None) -> None:
    extra = {} if value is None else {"WAMC_ALLOW_ROOT": value}
    out = subprocess.run(
        [sys.executable, "-m", "workers", "--client", "r1"],
        env=worker_env(tmp_path, **extra),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == EXIT_ROOT_REFUSED == 77
    assert "refuse to run as root" in out.stderr
    assert "WAMC_ALLOW_ROOT=1" in out.stderr
    assert not (tmp_path / "sessions" / "r1").exists()  # refused before touching the profile


def test_give_up_exhausts_the_backoff_until_reset() -> None:
    b = Backoff(base=1, cap=60, max_failures=5, window=120)
    b.record_failure()
    b.give_up()
    assert b.exhausted()
    b.reset()
    assert not b.exhausted()


CAP_SCRIPT = """
import sys
from pathlib import Path
from workers import stdio
rotated = stdio.init(Path(sys.argv[1]), cap=int(sys.argv[2]))
print("out after", rotated)
print("err after", file=sys.stderr)
"""


def run_capped(path: Path, cap: int) -> None:
    with open(path, "ab") as fh:
        subprocess.run(
            [sys.executable, "-c", CAP_SCRIPT, str(path), str(cap)],
            stdout=fh,
            stderr=fh,
            cwd=REPO,
            check=True,
            timeout=60,
        )


def test_stderr_over_the_cap_is_rotated_by_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "c1.stderr"
    old = b"old line\n" * 1000  # 9000 bytes
    path.write_bytes(old)
    run_capped(path, cap=4096)
    assert (tmp_path / "c1.stderr.1").read_bytes() == old
    assert path.read_text() == "out after True\nerr after\n"  # stdout and stderr both re-opened
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 & ~current_umask()


def test_stderr_under_the_cap_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "c1.stderr"
    path.write_bytes(b"x" * 100)
    run_capped(path, cap=4096)
    assert path.read_bytes() == b"x" * 100 + b"out after False\nerr after\n"
    assert not (tmp_path / "c1.stderr.1").exists()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fake_chrome(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_version_probe_runs_no_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path with quotes and $(...) is one argv entry: nothing in it is executed."""
    monkeypatch.chdir(tmp_path)
    exe = fake_chrome(tmp_path, "chrome'$(touch pwned)'x", 'echo "Chromium 139.0.7258.5 built"')
    assert chrome_major(str(exe)) == "139"
    assert not (tmp_path / "pwned").exists()


def test_version_probe_times_out(tmp_path: Path) -> None:
    exe = fake_chrome(tmp_path, "slow-chrome", "sleep 30")
    t0 = time.monotonic()
    assert chrome_major(str(exe), timeout=0.5) == "140"  # the default, without waiting 30 s
    assert time.monotonic() - t0 < 10


def test_version_probe_defaults_when_missing(tmp_path: Path) -> None:
    assert chrome_major(str(tmp_path / "nope")) == "140"
    assert chrome_major(None) == "140"


def test_secure_tree_sets_modes_and_narrows_old_logs(tmp_path: Path) -> None:
    sessions, logs = tmp_path / "sessions", tmp_path / "logs"
    sessions.mkdir(mode=0o755)
    (logs / "clients").mkdir(parents=True)
    old = logs / "wamc.log"
    old.write_text("x")
    old.chmod(0o644)
    (logs / "clients" / "a.log").write_text("x")
    (logs / "clients" / "a.log").chmod(0o600)  # already narrower: never widened
    target = tmp_path / "elsewhere"
    target.write_text("x")
    target.chmod(0o666)
    (logs / "link").symlink_to(target)
    secure_tree(sessions, logs)
    mode = lambda p: stat.S_IMODE(p.lstat().st_mode)  # noqa: E731
    assert mode(sessions) == 0o700
    assert mode(logs) == 0o750
    assert mode(logs / "clients") == 0o750
    assert mode(old) == 0o640
    assert mode(logs / "clients" / "a.log") == 0o600
    assert mode(target) == 0o666  # a symlink is never followed
