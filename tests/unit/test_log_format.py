"""The log settings: WAMC_LOG_FORMAT / WAMC_LOG_LEVEL parsed and checked in wamc.config, and a
JSON line per record (fields, the level threshold, a traceback inside the object)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from wamc.config import SettingsError, load_settings
from wamc.log import setup_worker_logging


@pytest.fixture
def restore_logger() -> Iterator[None]:
    yield
    logger.remove()
    logger.configure(extra={}, patcher=None)
    logger.add(sys.stderr)


def test_settings_are_normalised_and_checked(tmp_path: Path) -> None:
    base = {"WAMC_HOME": str(tmp_path)}
    s = load_settings(base)
    assert (s.log_format, s.log_level) == ("text", "INFO")
    s = load_settings({**base, "WAMC_LOG_FORMAT": "JSON", "WAMC_LOG_LEVEL": " debug "})
    assert (s.log_format, s.log_level) == ("json", "DEBUG")
    with pytest.raises(SettingsError, match="WAMC_LOG_FORMAT"):
        load_settings({**base, "WAMC_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="WAMC_LOG_LEVEL"):
        load_settings({**base, "WAMC_LOG_LEVEL": "loud"})
    (tmp_path / "wamc.toml").write_text('log_format = "json"\nlog_level = "warning"\n')
    s = load_settings(base)
    assert (s.log_format, s.log_level) == ("json", "WARNING")


def test_json_lines_fields_level_and_exception(tmp_path: Path, restore_logger: None) -> None:
    settings = load_settings(
        {"WAMC_HOME": str(tmp_path), "WAMC_LOG_FORMAT": "json", "WAMC_LOG_LEVEL": "WARNING"}
    )
    setup_worker_logging(settings, "acme")
    logger.info("below the level")
    logger.bind(client="acme").warning("two\nlines {}", "é")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it failed")
    lines = (tmp_path / "logs" / "clients" / "acme.log").read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["client"] == "acme"
    assert first["msg"] == "two\\nlines é"  # control characters escaped: no forged lines
    assert first["module"] == __name__ and first["ts"].endswith("Z")
    assert "exception" not in first
    assert second["level"] == "ERROR" and second["msg"] == "it failed"
    assert "ValueError: boom" in second["exception"]


def test_text_stays_the_default(tmp_path: Path, restore_logger: None) -> None:
    setup_worker_logging(load_settings({"WAMC_HOME": str(tmp_path)}), "shop_2")
    logger.info("plain")
    (line,) = (tmp_path / "logs" / "clients" / "shop_2.log").read_text().splitlines()
    assert line.endswith("INFO    [shop_2] plain") and not line.startswith("{")
