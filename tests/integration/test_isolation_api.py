"""Issue 9, gateway side, against the real daemon: fast shutdown, stream tickets and caps,
streams closed on revocation and deletion, the pre-auth limit, strict client ids, key length."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_short_api_key_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "WAMC_HOME": str(tmp_path), "WAMC_PORT": "1", "WAMC_API_KEY": "x" * 31}
    out = subprocess.run(
        [sys.executable, "-m", "wamc.cli", "serve"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "wamc api-key" in out.stderr and "31 characters" in out.stderr, out.stderr
