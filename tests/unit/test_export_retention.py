"""Export and retention (issue 11), pure parts on a real SQLite store: keyset pages, the tar form
with a media lookup, high-water marks, pruning, per-client settings, scheduled-export files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wamc.api import export_tar
from wamc.api.handlers.export import parse_after
from wamc.config import Settings
from wamc.daemon.exports import ExportSchedule, export_name
from wamc.daemon.retention import prune_files
from wamc.errors import Refused
from wamc.storage import Database
from wamc.storage import client_settings as cs
from wamc.storage import clients as client_rows
from wamc.storage import events as event_log
from wamc.storage import export as export_rows
from wamc.storage import messages as message_rows
from wamc.storage import retention as retention_rows


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    store = Database(tmp_path / "t.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def msg(n: int, chat: str = "1@c.us", t: int = 1000) -> dict[str, Any]:
    return {
        "id": f"false_{chat}_ID{n}",
        "chat_id": chat,
        "from": chat,
        "body": f"m{n}",
        "timestamp": t,
    }


async def test_export_pages_are_keyset_complete_across_equal_timestamps(db: Database) -> None:
    for n in range(10):  # three per second: page edges fall inside a second
        await message_rows.add(db, "c", msg(n, "1@c.us" if n % 2 else "2@c.us", 1000 + n // 3))
    pages = [p async for p in export_rows.pages(db, "c", size=4)]
    assert [len(p) for p in pages] == [4, 4, 2]
    assert [m["id"].rsplit("ID")[1] for p in pages for m in p] == [str(n) for n in range(10)]
    only = [m async for p in export_rows.pages(db, "c", after=1001, chat_id="1@c.us") for m in p]
    assert [m["body"] for m in only] == ["m7", "m9"]  # timestamps 1002, 1003
    assert await export_rows.count(db, "c", after=1001, chat_id="1@c.us") == 2
    assert await export_rows.count(db, "other") == 0


async def test_marks_outlive_pruned_rows_and_stop_a_refetch(db: Database) -> None:
    await message_rows.add(db, "c", msg(1, "old@c.us", 100))
    await message_rows.add(db, "c", msg(2, "old@c.us", 200))
    await message_rows.add(db, "c", msg(3, "old@c.us", 150))  # late, older: not the mark
    await message_rows.add(db, "c", msg(4, "new@c.us", 5000))
    assert await retention_rows.prune_messages(db, "c", before=1000, batch=2) == 3
    left = [m["id"] async for p in export_rows.pages(db, "c") for m in p]
    assert left == ["false_new@c.us_ID4"]
    newest = await message_rows.newest_per_chat(db, "c")
    assert newest == {"new@c.us": "false_new@c.us_ID4", "old@c.us": "false_old@c.us_ID2"}
    assert await retention_rows.already_pruned(db, "c", "old@c.us", 999)
    assert not await retention_rows.already_pruned(db, "c", "old@c.us", 1000)
    assert not await retention_rows.already_pruned(db, "c", "new@c.us", 10)  # nothing pruned
    assert not await retention_rows.already_pruned(db, "c", "unknown@c.us", 10)
    await client_rows.add(db, "c", "2026-01-01T00:00:00.000Z")
    await client_rows.delete(db, "c")
    assert await message_rows.newest_per_chat(db, "c") == {}


async def test_event_pruning_is_per_client_and_keeps_the_newest(db: Database) -> None:
    for client in ("a", "b"):
        for n, stamp in enumerate(("2026-01-01", "2026-01-02", "2026-01-03")):
            ev = {
                "client": client,
                "id": f"{client}{n}",
                "event": "x",
                "timestamp": stamp,
                "data": {},
            }
            await event_log.append(db, ev)
    assert await retention_rows.prune_events(db, "a", "2026-02-01") == 2  # the newest stays
    assert [e["id"] for e in await event_log.since(db, "a", 0, 10)] == ["a2"]
    assert len(await event_log.since(db, "b", 0, 10)) == 3


async def test_settings_merge_and_the_effective_retention(db: Database) -> None:
    defaults = Settings(message_retention_days=0, media_retention_days=3, event_retention_days=30)
    assert await cs.get(db, "c") == cs.ClientSettings()
    first = cs.ClientSettings.model_validate(
        {"message_retention_days": 7, "event_retention_days": 1}
    )
    await cs.patch(db, "c", first)
    merged = await cs.patch(
        db, "c", cs.ClientSettings.model_validate({"event_retention_days": None})
    )
    assert merged == cs.ClientSettings(message_retention_days=7)
    assert await cs.get(db, "c") == merged and await cs.all_settings(db) == {"c": merged}
    assert cs.effective_retention(defaults, merged) == cs.Retention(
        message_days=7, media_days=3, event_days=30
    )
    await db.write(
        "UPDATE client_settings SET data=? WHERE client='c'",
        (json.dumps({"a_newer_setting": "x", "message_retention_days": 2}),),
    )
    assert await cs.get(db, "c") == cs.ClientSettings(
        message_retention_days=2
    )  # newer fields ignored


async def test_the_tar_holds_messages_cached_media_and_the_manifest(tmp_path: Path) -> None:
    photo = tmp_path / "cached.bin"
    photo.write_bytes(b"\x89PNG" + os.urandom(3000))
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    page = [
        {"id": "m1", "chat_id": "1@c.us", "body": "hi"},
        {"id": "m2", "chat_id": "1@c.us", "media": {"sha256": sha}, "media_url": "/u/m2"},
        {"id": "m3", "chat_id": "1@c.us", "media": {"sha256": "0" * 64}, "media_url": "/u/m3"},
        {"id": "m4", "chat_id": "1@c.us", "media": {"sha256": sha}},  # the same file again
    ]

    async def pages() -> AsyncIterator[tuple[bytes, list[dict[str, Any]]]]:
        yield b"".join(export_rows.json_line(m) for m in page), page

    async def lookup(message: dict[str, Any]) -> tuple[Path, str] | None:
        return (photo, sha) if message["media"]["sha256"] == sha else None

    out = bytearray()
    writes: list[int] = []

    async def write(chunk: bytes) -> None:
        writes.append(len(chunk))
        out.extend(chunk)

    assert await export_tar.stream(write, pages(), lookup) == 4
    with tarfile.open(fileobj=io.BytesIO(bytes(out)), mode="r|") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert list(files) == ["messages.jsonl", f"media/{sha}", "missing.jsonl"]
    assert [json.loads(x)["id"] for x in files["messages.jsonl"].splitlines()] == [
        "m1",
        "m2",
        "m3",
        "m4",
    ]
    assert files[f"media/{sha}"] == photo.read_bytes()
    assert [json.loads(x) for x in files["missing.jsonl"].splitlines()] == [
        {
            "id": "m3",
            "chat_id": "1@c.us",
            "timestamp": None,
            "media": {"sha256": "0" * 64},
            "media_url": "/u/m3",
        }
    ]
    assert max(writes) <= export_tar.CHUNK  # written as it goes, never as one body


def test_after_takes_iso_8601_and_refuses_the_rest() -> None:
    assert parse_after("2026-01-31T12:00:00Z") == 1769860800
    assert parse_after("2026-01-31T12:00:00") == 1769860800  # no zone: UTC
    assert parse_after("2026-01-31T14:00:00.900+02:00") == 1769860800
    assert parse_after("2026-01-31") == 1769817600
    assert parse_after(None) is None and parse_after("") is None
    for bad in ("yesterday", "2026-13-01", "1769860800", "2026-01-31T25:00"):
        with pytest.raises(Refused) as err:
            parse_after(bad)
        assert err.value.code == "invalid_parameter" and err.value.field == "after"


def test_old_files_go_new_ones_stay(tmp_path: Path) -> None:
    now = time.time()
    for name, age in (("old", 10 * 86400), ("new", 60)):
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (now - age, now - age))
    (tmp_path / "sub").mkdir()
    os.utime(tmp_path / "sub", (now - 10 * 86400,) * 2)
    assert prune_files(tmp_path, now - 86400) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "sub"]
    assert prune_files(tmp_path / "missing", now) == 0


def test_scheduled_export_files_are_named_by_utc_time_and_pruned(tmp_path: Path) -> None:
    assert export_name(1769860800.7) == "20260131T120000Z.jsonl"

    class Registry:  # what ExportSchedule reads of the daemon's registry
        settings = Settings(home=tmp_path, export_keep_days=2)
        store = None
        clients: dict[str, Any] = {}

    schedule = ExportSchedule(Registry())  # type: ignore[arg-type]
    folder = schedule.folder("acme")
    folder.mkdir(parents=True)
    now = time.time()
    for name, age in (
        ("a.jsonl", 3 * 86400),
        ("b.jsonl", 86400),
        (".tmp-c.jsonl", 7200),
        ("keep.txt", 9 * 86400),
    ):
        (folder / name).write_bytes(b"{}\n")
        os.utime(folder / name, (now - age, now - age))
    assert schedule.prune("acme", now) == 2
    assert sorted(p.name for p in folder.iterdir()) == ["b.jsonl", "keep.txt"]
