"""Fixtures the unit tests share: daemon parts on a real SQLite file, without any process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wamc.config import load_settings
from wamc.daemon.registry import Registry
from wamc.events import EventBus
from wamc.storage import Database


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    """A registry on a fresh database in ``tmp_path`` with its event bus (closed after)."""
    db = Database(tmp_path / "t.db")
    await db.open()
    settings = load_settings({"WAMC_HOME": str(tmp_path)})
    reg = Registry(settings, db, EventBus(db, settings.ws_queue_size))
    try:
        yield reg
    finally:
        await db.close()
