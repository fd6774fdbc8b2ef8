"""Settings of the event, webhook and security packages come from wamc.config only (issue 10)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wamc.config import SettingsError, load_settings

PACKAGES = ("events", "webhooks", "security")
ROOT = Path(__file__).resolve().parents[2] / "wamc"


def test_env_names_reach_settings() -> None:
    s = load_settings(
        {
            "WAMC_EVENT_RETENTION_DAYS": "0",
            "WAMC_WS_QUEUE_SIZE": "16",
            "WAMC_WEBHOOK_ALLOW_PRIVATE": "1",
        }
    )
    assert (s.event_retention_days, s.ws_queue_size, s.webhook_allow_private) == (0.0, 16, 1)
    d = load_settings({})
    assert (d.event_retention_days, d.ws_queue_size, d.webhook_allow_private) == (30.0, 1000, 0)


def test_bad_value_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="WAMC_WS_QUEUE_SIZE"):
        load_settings({"WAMC_WS_QUEUE_SIZE": "many"})


@pytest.mark.parametrize("package", PACKAGES)
def test_domain_packages_never_read_the_environment(package: str) -> None:
    readers = re.compile(r"\bos\.environ\b|\bgetenv\(|\benviron\.get\(")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted((ROOT / package).glob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if readers.search(line)
    ]
    assert offenders == []
