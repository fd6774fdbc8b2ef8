"""A client's status answer is cached as encoded bytes (``Client.status_body``): it must be the
encoding of ``status()`` after any change, including changes made in place."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from wamc.config import Settings
from wamc.daemon.backend import Backoff
from wamc.daemon.registry import Client
from wamc.states import ClientState
from wamc.storage.client_settings import ClientSettings, effective_retention


def make_client() -> Client:
    return Client(
        id="acme",
        created_at="2026-11-30T00:00:00.000Z",
        desired="running",
        backoff=Backoff(0.5, 5, 3, 60),
        retention=effective_retention(Settings(), ClientSettings()),
    )


def decoded(client: Client) -> dict[str, Any]:
    return msgspec.json.decode(client.status_body())  # type: ignore[no-any-return]  # a JSON object


def test_the_body_is_the_status_and_is_reused_while_nothing_changed() -> None:
    client = make_client()
    first = client.status_body()
    assert msgspec.json.decode(first) == client.status()
    assert client.status_body() is first  # nothing changed: the same bytes, not encoded again


CHANGES: list[tuple[str, Any]] = [
    ("state", ClientState.CONNECTED),
    ("desired", "stopped"),
    ("since", "2026-11-30T01:00:00.000Z"),
    ("last_error", "boom"),
    ("restarts", 3),
    ("last_message_at", "2026-11-30T02:00:00.000Z"),
    ("bad_frames", 1),
    ("dead_events", 2),
    ("stop_outcome", "kill"),
    ("browser_pid", 999_999_999),
    ("profile", {"last_snapshot": None, "restored_from": None, "restore": None}),
]


@pytest.mark.parametrize(("name", "value"), CHANGES)
def test_every_change_is_in_the_next_body(name: str, value: Any) -> None:
    client = make_client()
    before = client.status_body()
    setattr(client, name, value)
    assert client.status_body() != before
    assert decoded(client) == client.status()


def test_changes_made_in_place_are_seen() -> None:
    client = make_client()
    client.profile = {"last_snapshot": None, "restore": None}
    assert decoded(client)["profile"] == {"last_snapshot": None, "restore": None}
    client.profile.update(restore="restored", seconds=1.5)  # as profiles/backup.py does
    assert decoded(client)["profile"] == {
        "last_snapshot": None,
        "restore": "restored",
        "seconds": 1.5,
    }
    client.profile["skipped"] = [{"id": "s1"}]
    client.profile["skipped"].append({"id": "s2"})  # nested, in place
    assert decoded(client)["profile"]["skipped"] == [{"id": "s1"}, {"id": "s2"}]


def test_me_shows_only_when_connected_and_retention_is_its_dump() -> None:
    client = make_client()
    client.me = "5511@c.us"
    assert decoded(client)["me"] is None
    client.state = ClientState.CONNECTED
    assert decoded(client)["me"] == "5511@c.us"
    assert client.retention is not None
    assert decoded(client)["retention"] == client.retention.model_dump()
    client.retention = effective_retention(Settings(), ClientSettings(message_retention_days=7))
    assert decoded(client)["retention"]["message_days"] == 7


def test_uptime_moves_with_time() -> None:
    client = make_client()
    client.handle = SimpleNamespace(pid=None, node=None)  # type: ignore[assignment]  # no process
    client.started_mono = time.monotonic() - 10
    first = decoded(client)["uptime_seconds"]
    assert first is not None and first >= 10
    client.started_mono -= 5
    assert decoded(client)["uptime_seconds"] >= first + 5


def test_uptime_is_round_to_a_tenth_at_every_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last shown uptime is reused while the time is within 0.0499 s of it: always what
    ``round(seconds, 1)`` gives, also next to the half-tenths, over a jump and back."""
    import random

    from wamc.daemon import registry

    client = make_client()
    client.handle = SimpleNamespace(pid=None, node=None)  # type: ignore[assignment]  # no process
    client.started_mono = 1000.0
    rng = random.Random(13)
    seconds = 0.0
    steps = [rng.choice((1e-9, 1e-4, 0.003, 0.0499, 0.05, 0.051, 0.1, 7.3)) for _ in range(20_000)]
    steps += [-3.2, 0.049999999, 1e-12, 86_400.0 * 400, -0.02, 0.0005, 0.0005]
    for step in steps:
        seconds = max(0.0, seconds + step)
        for edge in (seconds, round(seconds, 1) + 0.05, round(seconds, 1) - 0.05):
            now = client.started_mono + max(0.0, edge)
            monkeypatch.setattr(registry.time, "monotonic", lambda now=now: now)
            assert client.status()["uptime_seconds"] == round(now - client.started_mono, 1)


def test_retention_changed_in_place_is_seen() -> None:
    client = make_client()
    assert client.retention is not None
    before = decoded(client)["retention"]["message_days"]
    client.retention.message_days = before + 7  # the same object, a field changed
    assert decoded(client)["retention"]["message_days"] == before + 7
    assert decoded(client) == client.status()
