"""The unprivileged service user for tests that run wamc as it (root only)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO

SERVICE_USER = os.environ.get("WAMC_USER") or "wamc"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def service_user_sh(step: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "service-user.sh"), step, *args],
        env={**os.environ, "WAMC_USER": SERVICE_USER},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ensure_service_user() -> pwd.struct_passwd:
    """The user scripts/start.sh uses, able to run this interpreter and checkout.

    Never a silent skip: if it cannot reach them, the test fails with the fix.
    """
    made = service_user_sh("ensure")
    assert made.returncode == 0, made.stderr
    reach = service_user_sh("check", sys.executable)
    if reach.returncode != 0:
        pytest.fail(f"the service user cannot run this checkout:\n{reach.stderr}")
    return pwd.getpwnam(SERVICE_USER)


@contextlib.contextmanager
def open_folder() -> Iterator[Path]:
    """A 0755 folder (pytest's tmp_path lives under a 0700 one the user cannot enter)."""
    base = Path(tempfile.mkdtemp(prefix="wamc-unpriv-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def give(user: pwd.struct_passwd, *paths: Path) -> None:
    """chown ``paths`` and everything below them to ``user``."""
    for top in paths:
        for path in [top, *top.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
