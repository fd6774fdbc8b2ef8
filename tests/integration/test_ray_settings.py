"""The Ray backend's start-up refusals (issue 14): Ray unreachable → a clear error naming
WAMC_RAY_ADDRESS within the 10 s bound; the Ray backend without a TCP worker link → refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support import API_KEY, REPO, free_port


def serve(home: Path, extra: dict[str, str]) -> tuple[int, str, float]:
    home.mkdir()
    env = {
        **os.environ,
        "WAMC_HOME": str(home),
        "WAMC_PORT": str(free_port()),
        "WAMC_API_KEY": API_KEY,
        "WAMC_ALLOW_ROOT": "1",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        **extra,
    }
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "wamc.cli", "serve"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stderr + done.stdout, time.monotonic() - began


def test_ray_unreachable_is_a_clear_error_naming_the_setting(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there (loopback only)
    code, out, took = serve(
        tmp_path / "home",
        {
            "WAMC_BACKEND": "ray",
            "WAMC_RAY_ADDRESS": f"127.0.0.1:{closed}",
            "WAMC_ZMQ_ENDPOINT": f"tcp://127.0.0.1:{free_port()}",
        },
    )
    assert code != 0
    assert f"WAMC_RAY_ADDRESS='127.0.0.1:{closed}'" in out, out[-2000:]
    assert took < 40, took


def test_the_ray_backend_needs_a_tcp_worker_link(tmp_path: Path) -> None:
    code, out, _ = serve(tmp_path / "home", {"WAMC_BACKEND": "ray"})
    assert code != 0 and "WAMC_ZMQ_ENDPOINT=tcp://" in out, out[-2000:]
    code, out, _ = serve(tmp_path / "home2", {"WAMC_BACKEND": "kubernetes"})
    assert code != 0 and "WAMC_BACKEND must be one of local, ray" in out, out[-2000:]
