"""The profile store with a real daemon, workers, Chromium and the simulator: a clean stop takes
a snapshot (caches left out); a client whose profile is lost comes back connected without a QR
from it, and the control (the store emptied) ends at a QR; a corrupt or hostile newest snapshot
is skipped for the previous one; a periodic snapshot is a quiet-moment recycle."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from tests.support import API_KEY, Daemon, wait_for
from wamc.daemon.profiles.archive import EXCLUDED_NAMES
from wamc.daemon.profiles.store import MANIFEST_VERSION, Manifest, new_snapshot_id

PHONE = "5511900004141"


@contextlib.asynccontextmanager
async def state_log(d: Daemon, client: str) -> AsyncIterator[list[str]]:
    """Every state ``client`` goes through while the block runs (a /ws consumer)."""
    states: list[str] = []
    ready = asyncio.Event()

    async def consume() -> None:
        url = f"{d.base}/ws?clients={client}&events=client.state"
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(url, headers={"X-Api-Key": API_KEY}) as ws,
        ):
            ready.set()
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    states.append(json.loads(msg.data)["data"]["state"])

    task = asyncio.create_task(consume())
    await asyncio.wait_for(ready.wait(), 15)
    try:
        yield states
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def stop(d: Daemon, client: str) -> dict[str, Any]:
    code, body = await d.call("POST", f"/api/clients/{client}/disconnect")
    assert code in (200, 202), body
    return await d.wait_state(client, "stopped")


async def connect_until(d: Daemon, client: str, states: list[str], want: str) -> dict[str, Any]:
    """Connect; wait until the client is connected or at a QR, which must be ``want``."""
    code, body = await d.call("POST", f"/api/clients/{client}/connect")
    assert code == 202, body

    async def settled() -> dict[str, Any] | None:
        st = await d.status(client)
        return st if st["state"] in ("connected", "qr") else None

    st = await wait_for(settled, timeout=90, what=f"{client} connected or at a QR")
    assert st["state"] == want, (st, states)
    return st


def snapshot_ids(store: Path, client: str) -> list[str]:
    folder = store / client
    return sorted((p.stem for p in folder.glob("*.json")), reverse=True) if folder.exists() else []


def corrupt(store: Path, client: str, snapshot_id: str) -> None:
    archive = store / client / f"{snapshot_id}.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


def plant_hostile(store: Path, client: str) -> str:
    """A newest snapshot with a valid manifest and checksum whose archive writes ``../x``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("Local State", b"{}"), ("../x", b"escaped")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    sid = new_snapshot_id()
    manifest = Manifest(
        MANIFEST_VERSION,
        client,
        sid,
        "now",
        "tar.gz",
        hashlib.sha256(raw).hexdigest(),
        len(raw),
        2,
        9,
    )
    (store / client / f"{sid}.tar.gz").write_bytes(raw)
    (store / client / f"{sid}.json").write_bytes(msgspec.json.encode(manifest))
    return sid


async def test_clean_stop_snapshots_and_a_lost_profile_comes_back_without_a_qr(
    make_daemon: Any, sim_http: Any, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    d = await make_daemon({"WAMC_PROFILE_STORE": str(store)})
    await d.connect_scanned(sim_http, "alpha", PHONE)
    profile = d.home / "sessions" / "alpha" / "profile"
    caches = {p.name for p in profile.rglob("*") if p.is_dir() and p.name in EXCLUDED_NAMES}
    assert caches, "the live profile has cache folders (else leaving them out proves nothing)"

    st = await stop(d, "alpha")
    assert st["stop_outcome"] == "clean"
    [sid] = snapshot_ids(store, "alpha")
    assert st["profile"]["last_snapshot"]["id"] == sid
    manifest = msgspec.json.decode((store / "alpha" / f"{sid}.json").read_bytes(), type=Manifest)
    archive = store / "alpha" / f"{sid}.tar.gz"
    assert manifest.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert any(n.startswith("Default/Local Storage/leveldb/") for n in names)
    assert not [n for n in names if set(n.split("/")) & EXCLUDED_NAMES]
    assert (store / "alpha").stat().st_mode & 0o777 == 0o700
    assert archive.stat().st_mode & 0o777 == 0o600

    # The profile lost (a new node, a lost disk): restored, connected, never a QR.
    shutil.rmtree(profile)
    async with state_log(d, "alpha") as states:
        st = await connect_until(d, "alpha", states, "connected")
    assert "qr" not in states, states
    assert st["profile"]["restored_from"] == sid and st["profile"]["restore"] == "restored"
    assert "profile restored from snapshot" in (d.home / "logs" / "wamc.log").read_text()

    # The control: the same with the store emptied ends at a QR.
    await stop(d, "alpha")
    shutil.rmtree(profile)
    shutil.rmtree(store / "alpha")
    async with state_log(d, "alpha") as states:
        st = await connect_until(d, "alpha", states, "qr")
    assert st["profile"]["restore"] == "fresh" and st["profile"]["reason"] == "no snapshot"


async def test_corrupt_or_hostile_newest_falls_back_then_a_qr_with_the_reason(
    make_daemon: Any, sim_http: Any, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    d = await make_daemon({"WAMC_PROFILE_STORE": str(store)})
    await d.connect_scanned(sim_http, "beta", PHONE)
    await stop(d, "beta")
    async with state_log(d, "beta") as states:
        await connect_until(d, "beta", states, "connected")  # its own profile, on disk
    await stop(d, "beta")
    second, first = snapshot_ids(store, "beta")

    corrupt(store, "beta", second)
    hostile = plant_hostile(store, "beta")
    profile = d.home / "sessions" / "beta" / "profile"
    shutil.rmtree(profile)
    async with state_log(d, "beta") as states:
        st = await connect_until(d, "beta", states, "connected")
    assert "qr" not in states, states
    assert st["profile"]["restored_from"] == first
    skipped = st["profile"]["skipped"]
    assert [s["id"] for s in skipped] == [hostile, second]
    assert "leaving the profile" in skipped[0]["reason"]
    assert "checksum mismatch" in skipped[1]["reason"]
    assert not (profile.parent / "x").exists() and not (profile.parent.parent / "x").exists()

    # Every snapshot bad (the newest kept ones): a fresh start, a QR, the reason in the status.
    await stop(d, "beta")  # a new good snapshot; the oldest pruned (3 kept)
    ids = snapshot_ids(store, "beta")
    assert len(ids) == 3 and first not in ids
    corrupt(store, "beta", ids[0])
    shutil.rmtree(profile)
    async with state_log(d, "beta") as states:
        st = await connect_until(d, "beta", states, "qr")
    assert st["profile"]["restore"] == "fresh"
    assert st["last_error"].startswith("profile restore: no good snapshot: 3 refused, newest: ")
    assert "checksum mismatch" in st["last_error"]

    # A logout ends the session: no snapshot of it may come back.
    code, body = await d.call("POST", "/api/clients/beta/logout")
    assert code in (200, 202), body
    assert snapshot_ids(store, "beta") == [] and not (store / "beta").exists()


async def test_periodic_snapshot_is_a_quiet_recycle_that_keeps_the_session(
    make_daemon: Any, sim_http: Any, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    d = await make_daemon(
        {
            "WAMC_PROFILE_STORE": str(store),
            "WAMC_PROFILE_SNAPSHOT_MINUTES": "0.1",
            "WAMC_RECYCLE_CHECK_INTERVAL": "1",
        }
    )
    first = await d.connect_scanned(sim_http, "gamma", PHONE)

    async def recycled() -> dict[str, Any] | None:
        st = await d.status("gamma")
        done = st["pid"] not in (None, first["pid"]) and st["state"] == "connected"
        return st if done and st["profile"] and st["profile"]["last_snapshot"] else None

    st = await wait_for(recycled, timeout=90, what="a periodic snapshot and the client back")
    assert st["desired"] == "running" and st["restarts"] >= 1
    assert st["profile"]["last_snapshot"]["id"] in snapshot_ids(store, "gamma")
    log = (d.home / "logs" / "wamc.log").read_text()
    assert "recycling the browser (profile snapshot every 0.1 min)" in log

    # A deleted client's snapshots go with it (a new client of that id must start fresh).
    code, body = await d.call("DELETE", "/api/clients/gamma")
    assert code in (200, 202), body
    assert not (store / "gamma").exists()
