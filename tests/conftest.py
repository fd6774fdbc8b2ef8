"""Pytest fixtures that start the real thing (tests/support): a simulator, a daemon, real workers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import Daemon, SimControl
from tests.support import running_simulator as _running_simulator
from tests.support.ray_cluster import RAY_ENV

os.environ.update(RAY_ENV)  # before collection imports Ray (see RAY_ENV)


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    async with _running_simulator() as sim:
        yield sim


@pytest.fixture
async def sim_http(simulator: Any) -> AsyncIterator[SimControl]:
    """Calls to the simulator's control API (it plays the phone and WhatsApp's servers)."""
    async with aiohttp.ClientSession() as session:
        yield SimControl(simulator, session)


@pytest.fixture
async def make_daemon(tmp_path: Path, simulator: Any) -> AsyncIterator[Any]:
    """``await make_daemon(extra_env, sim=None)``: a started daemon, closed after the test."""
    made: list[Daemon] = []

    async def make(extra_env: dict[str, str] | None = None, sim: Any = None) -> Daemon:
        d = Daemon(tmp_path / f"home{len(made) or ''}", sim or simulator, extra_env)
        d.home.mkdir()
        made.append(d)
        await d.start()
        return d

    try:
        yield make
    finally:
        for d in made:
            await d.close()


@pytest.fixture
async def daemon(make_daemon: Any) -> Daemon:
    return await make_daemon()
