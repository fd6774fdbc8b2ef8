"""Pure logic: state table, validation, backoff, snapshot → state, settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wamc.config import MAX_IPC_PATH, SettingsError, load_settings
from wamc.daemon.backend import Backoff
from wamc.errors import Refused
from wamc.states import TRANSITIONS, ClientState, can_transition
from wamc.validation import (
    MAX_TEXT_BYTES,
    SendMessage,
    bounded_int,
    client_id,
    decode_cursor,
    encode_cursor,
    recipient,
)
from workers.wa_state import derive_state


def test_state_strings_are_the_contract() -> None:
    assert [s.value for s in ClientState] == [
        "stopped",
        "starting",
        "qr",
        "connected",
        "disconnected",
        "failed",
    ]
    assert set(TRANSITIONS) == set(ClientState)


def test_illegal_transitions_are_refused() -> None:
    assert not can_transition(ClientState.STOPPED, ClientState.CONNECTED)
    assert not can_transition(ClientState.FAILED, ClientState.QR)
    assert can_transition(ClientState.QR, ClientState.CONNECTED)


def test_snapshot_to_state() -> None:
    assert derive_state({"ready": False}, False) == ClientState.STARTING
    assert (
        derive_state({"ready": True, "authenticated": False, "qr": "2@x"}, False) == ClientState.QR
    )
    # main_ready also fires in QR mode: not authenticated means not connected.
    assert (
        derive_state({"ready": True, "authenticated": False, "mode": "QR", "qr": "2@x"}, True)
        == ClientState.QR
    )
    assert (
        derive_state({"ready": True, "authenticated": True, "mode": "MAIN"}, False)
        == ClientState.CONNECTED
    )
    assert (
        derive_state({"ready": True, "authenticated": True, "mode": "SYNCING"}, False)
        == ClientState.STARTING
    )
    assert (
        derive_state({"ready": True, "authenticated": True, "mode": "CONFLICT"}, True)
        == ClientState.DISCONNECTED
    )


@pytest.mark.parametrize("good", ["acme", "shop_2", "A-b_9", "x" * 64])
def test_client_ids_accepted(good: str) -> None:
    assert client_id(good) == good


@pytest.mark.parametrize("bad", ["", "a.b", "../etc", "x" * 65, "sp ace", "ç"])
def test_client_ids_refused(bad: str) -> None:
    with pytest.raises(Refused) as err:
        client_id(bad)
    assert err.value.code == "invalid_client_id" and err.value.field == "id"


def test_recipients() -> None:
    assert recipient("+55 (11) 99999-9999") == "5511999999999@c.us"
    assert recipient("5511999999999") == "5511999999999@c.us"
    assert recipient("123456789-123@g.us") == "123456789-123@g.us"
    for bad in ["abc", "12", "x@evil.com", "../../x@c.us"]:
        with pytest.raises(Refused) as err:
            recipient(bad)
        assert err.value.field == "to"


def test_text_limits() -> None:
    assert SendMessage.model_validate({"to": "1", "text": "a" * MAX_TEXT_BYTES}).text
    for text in ["", "   ", "é" * (MAX_TEXT_BYTES // 2 + 1)]:
        with pytest.raises(ValueError):
            SendMessage.model_validate({"to": "1", "text": text})


def test_cursor_roundtrip_and_garbage() -> None:
    assert decode_cursor(encode_cursor((1700000000, 42))) == (1700000000, 42)
    for bad in ["!!!", "e30", encode_cursor((1, 2))[:-3] + "zzz"]:
        with pytest.raises(Refused):
            decode_cursor(bad)


def test_bounded_int() -> None:
    assert bounded_int(None, "limit", 50, 1, 500) == 50
    assert bounded_int("7", "limit", 50, 1, 500) == 7
    for bad in ["0", "501", "x"]:
        with pytest.raises(Refused):
            bounded_int(bad, "limit", 50, 1, 500)


def test_backoff_grows_and_gives_up() -> None:
    b = Backoff(base=1, cap=8, max_failures=4, window=60)
    assert b.delay() == 0
    delays = []
    for t in range(4):
        b.record_failure(now=float(t))
        delays.append(b.delay())
    assert delays[0] < delays[1] < delays[2] and delays[3] <= 8 * 1.2
    assert b.exhausted()
    b.record_failure(now=1000.0)  # old failures fall out of the window
    assert not b.exhausted()


def test_settings_env_over_toml(tmp_path: Path) -> None:
    (tmp_path / "wamc.toml").write_text('port = 4555\nhost = "0.0.0.0"\n')
    s = load_settings({"WAMC_HOME": str(tmp_path), "WAMC_PORT": "4666"})
    assert s.port == 4666 and s.host == "0.0.0.0" and s.home == tmp_path.resolve()
    with pytest.raises(SettingsError):
        load_settings({"WAMC_HOME": str(tmp_path), "WAMC_PORT": "nope"})


def test_ipc_path_fits_whatever_the_home(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    s = load_settings({"WAMC_HOME": str(deep)})
    assert len(s.endpoint()) - len("ipc://") <= MAX_IPC_PATH
    other = load_settings({"WAMC_HOME": str(tmp_path / "other" / ("d" * 120))})
    assert s.endpoint() != other.endpoint()
    # Not a guessable name: a private (0700) folder of ours with a random name, kept for the
    # next daemon (its adopted workers reconnect to the same socket).
    folder = Path(s.endpoint()[len("ipc://") :]).parent
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_uid == os.getuid()
    assert str(folder) != f"/tmp/wamc-{deep.name}" and folder.name.startswith("wamc-")
    assert (s.state_dir / "runtime-dir").read_text().strip() == str(folder)


def test_api_key_file_is_private(tmp_path: Path) -> None:
    s = load_settings({"WAMC_HOME": str(tmp_path)})
    key = s.ensure_api_key()
    assert len(key) >= 32 and s.ensure_api_key() == key
    assert os.stat(s.api_key_file).st_mode & 0o777 == 0o600


def test_recycle_reason() -> None:
    from wamc.daemon.recycle import MB, recycle_reason

    assert recycle_reason(2000 * MB, 1536, 10, 0, 0).startswith("memory ceiling")
    assert recycle_reason(2000 * MB, 1536, 10, 0, requests_in_flight=1) is None  # a send runs
    assert recycle_reason(2000 * MB, 0, 10, 0, 0) is None  # ceiling off
    assert recycle_reason(100 * MB, 1536, 7300, 2, 0).startswith("periodic recycle")
    assert recycle_reason(100 * MB, 1536, 7100, 2, 0) is None
    assert recycle_reason(None, 1536, None, 2, 0) is None


def test_backfill_takes_only_what_the_daemon_lacks() -> None:
    from workers.runtime import missing_after

    msgs = [{"id": f"m{i}"} for i in range(5)]
    assert missing_after(msgs, None) == msgs
    assert [m["id"] for m in missing_after(msgs, "m2")] == ["m3", "m4"]
    assert missing_after(msgs, "m4") == []
    assert missing_after(msgs, "gone") == msgs  # not among them: offer all, the store dedupes


def test_key_id_makes_lid_and_phone_ids_one_message() -> None:
    from wamc.storage.messages import key_id

    assert key_id("false_5511999999999@c.us_3EB0ABC") == key_id("false_1234567@lid_3EB0ABC")
    assert key_id("false_123-456@g.us_3EB0ABC_5511@c.us") == "3EB0ABC"


async def test_store_adds_columns_missing_from_an_older_database(tmp_path: Path) -> None:
    import sqlite3

    from wamc.storage import Database
    from wamc.storage import messages as message_rows

    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.execute(
        "CREATE TABLE messages (client TEXT NOT NULL, id TEXT NOT NULL, chat_id TEXT NOT NULL,"
        " from_me INTEGER NOT NULL, sender TEXT, recipient TEXT, body TEXT NOT NULL,"
        " type TEXT NOT NULL, timestamp INTEGER NOT NULL, ack INTEGER NOT NULL DEFAULT 0,"
        " key_id TEXT NOT NULL, PRIMARY KEY (client, id))"
    )
    old.commit()
    old.close()
    store = Database(db)
    await store.open()
    try:
        msg = {"id": "false_1@c.us_AB", "chat_id": "1@c.us", "body": "x", "lid": "9@lid"}
        assert await message_rows.add(store, "acme", msg)
        rows = await message_rows.page(store, "acme", "1@c.us", 10, None)
        assert rows[0][1]["lid"] == "9@lid"
    finally:
        await store.close()
