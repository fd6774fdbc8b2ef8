"""The profile store's archive and manifest logic (wamc/daemon/profiles), on plain folders."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
import time
from pathlib import Path

import msgspec
import pytest

from wamc.daemon.profiles import FolderStore, needs_restore, restore_newest, take_snapshot
from wamc.daemon.profiles.archive import Hashing, UnsafeArchive, excluded, pack, unpack
from wamc.daemon.profiles.store import MANIFEST_VERSION, Manifest, new_snapshot_id

CLIENT = "acme"


def make_profile(root: Path) -> Path:
    """A small Chromium-like profile with caches, a crash dump and a link out of it."""
    profile = root / "sessions" / CLIENT / "profile"
    (profile / "Default" / "IndexedDB" / "site.leveldb").mkdir(parents=True)
    (profile / "Default" / "IndexedDB" / "site.leveldb" / "000003.log").write_bytes(b"login" * 99)
    (profile / "Default" / "Local Storage").mkdir()
    (profile / "Default" / "Local Storage" / "leveldb").write_text("last-wid-md")
    (profile / "Local State").write_text("{}")
    for cache in ("Default/Cache/Cache_Data", "Default/Code Cache/js", "GrShaderCache", "Crashpad"):
        (profile / cache).mkdir(parents=True)
        (profile / cache / "blob").write_bytes(os.urandom(4096))
    (profile / "Default" / "Service Worker" / "CacheStorage").mkdir(parents=True)
    (profile / "Default" / "Service Worker" / "CacheStorage" / "x").write_text("cached")
    (profile / "Default" / "Service Worker" / "Database").mkdir()
    (profile / "Default" / "Service Worker" / "Database" / "CURRENT").write_text("sw")
    secret = root / "outside-secret"
    secret.write_text("not yours")
    (profile / "leak").symlink_to(secret)
    (profile / "leakdir").symlink_to(root)
    (profile / "SingletonLock").symlink_to("host-123")
    return profile


def members(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return set(tar.getnames())


def snapshot_files(store_root: Path) -> list[Path]:
    return sorted((store_root / CLIENT).iterdir())


def test_pack_leaves_out_caches_and_links_and_unpack_restores_the_rest(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    archive = tmp_path / "a.tar.gz"
    with open(archive, "wb") as out:
        packed = pack(profile, out)
    names = members(archive)
    assert "Default/IndexedDB/site.leveldb/000003.log" in names
    assert "Default/Service Worker/Database/CURRENT" in names
    assert not {n for n in names if "Cache" in n.split("/") or "Code Cache" in n.split("/")}
    assert not {n for n in names if "GrShaderCache" in n or "Crashpad" in n}
    assert "Default/Service Worker/CacheStorage" not in names
    assert not {"leak", "leakdir", "SingletonLock"} & names
    assert packed.files == 4 and packed.size == archive.stat().st_size
    dest = tmp_path / "restored"
    with open(archive, "rb") as raw:
        reader = Hashing(raw)
        files, total = unpack(reader, dest)
    assert (files, total) == (packed.files, packed.bytes)
    assert reader.digest.hexdigest() == packed.sha256 and reader.size == packed.size
    log = dest / "Default" / "IndexedDB" / "site.leveldb" / "000003.log"
    assert log.read_bytes() == b"login" * 99
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((dest / "Default").stat().st_mode) == 0o700
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700


def test_exclusions_by_name_and_by_pair() -> None:
    from pathlib import PurePosixPath as P

    assert excluded(P("Default/Cache")) and excluded(P("GPUCache"))
    assert excluded(P("Default/Service Worker/CacheStorage"))
    assert excluded(P("BrowserMetrics-spare.pma"))
    assert not excluded(P("Default/IndexedDB")) and not excluded(P("CacheStorage"))


def hostile_archive(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> None:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("Default/ok")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        tar.addfile(member, io.BytesIO(data) if data else None)


def evil(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 4, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size if kind == tarfile.REGTYPE else 0, link
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (evil("../x"), "leaving the profile"),
        (evil("Default/../../x"), "leaving the profile"),
        (evil("/wamc-profile-test-evil"), "absolute path"),
        (evil("lnk", tarfile.SYMTYPE, link="/etc/passwd"), "not a plain file"),
        (evil("hard", tarfile.LNKTYPE, link="Default/ok"), "not a plain file"),
        (evil("dev", tarfile.CHRTYPE), "not a plain file"),
        (evil("Default/ok"), "twice"),
    ],
)
def test_hostile_members_are_refused_and_nothing_lands_outside(
    tmp_path: Path, member: tarfile.TarInfo, why: str
) -> None:
    archive = tmp_path / "evil.tar.gz"
    hostile_archive(archive, member, b"evil" if member.isreg() else b"")
    dest = tmp_path / "deep" / "restored"
    dest.parent.mkdir()
    with open(archive, "rb") as raw, pytest.raises(UnsafeArchive, match=why):
        unpack(Hashing(raw), dest)
    assert not (tmp_path / "x").exists() and not (tmp_path / "deep" / "x").exists()
    assert not Path("/wamc-profile-test-evil").exists()


def put_snapshot(store: FolderStore, tmp_path: Path, profile: Path, keep: int = 5) -> str:
    return take_snapshot(store, CLIENT, profile, keep).id


def test_snapshot_writes_archive_then_manifest_with_private_modes(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    store = FolderStore(tmp_path / "store")
    manifest = take_snapshot(store, CLIENT, profile, keep=3)
    files = snapshot_files(tmp_path / "store")
    assert [f.name for f in files] == [f"{manifest.id}.json", f"{manifest.id}.tar.gz"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE((tmp_path / "store" / CLIENT).stat().st_mode) == 0o700
    on_disk = msgspec.json.decode((files[0]).read_bytes(), type=Manifest)
    assert on_disk == manifest and on_disk.version == MANIFEST_VERSION
    assert on_disk.size == files[1].stat().st_size
    assert not list(profile.parent.glob(".snapshot-*"))  # the staging file is gone
    assert store.list(CLIENT) == [manifest.id]


def test_restore_takes_the_newest_and_falls_back_past_corrupt_and_hostile(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    store = FolderStore(tmp_path / "store")
    first = put_snapshot(store, tmp_path, profile)
    (profile / "Local State").write_text('{"second": true}')
    second = put_snapshot(store, tmp_path, profile)
    assert store.list(CLIENT) == [second, first]
    target = tmp_path / "node2" / "profile"
    target.parent.mkdir()
    assert needs_restore(target)
    result = restore_newest(store, CLIENT, target)
    assert result.restored_from == second and result.skipped == []
    assert (target / "Local State").read_text() == '{"second": true}'
    assert not needs_restore(target)

    # The newest corrupted (one byte flipped): the previous one, the reason named.
    archive = tmp_path / "store" / CLIENT / f"{second}.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    target2 = tmp_path / "node3" / "profile"
    target2.parent.mkdir()
    result = restore_newest(store, CLIENT, target2)
    assert result.restored_from == first
    assert [s["id"] for s in result.skipped] == [second]
    assert "checksum mismatch" in result.skipped[0]["reason"]
    assert (target2 / "Local State").read_text() == "{}"
    assert not list(target2.parent.glob("profile.restoring-*"))

    # A newer hostile snapshot with a valid checksum: refused for its member, not written.
    evil_id = new_snapshot_id(time.time() + 60)
    staging = tmp_path / "evil.tar.gz"
    hostile_archive(staging, evil("../x"), b"evil")
    raw = staging.read_bytes()
    store.put(
        CLIENT,
        staging,
        Manifest(
            MANIFEST_VERSION,
            CLIENT,
            evil_id,
            "now",
            "tar.gz",
            hashlib.sha256(raw).hexdigest(),
            len(raw),
            2,
            6,
        ),
    )
    target3 = tmp_path / "node4" / "profile"
    target3.parent.mkdir()
    result = restore_newest(store, CLIENT, target3)
    assert result.restored_from == first
    assert [s["id"] for s in result.skipped] == [evil_id, second]
    assert "leaving the profile" in result.skipped[0]["reason"]
    assert not (tmp_path / "node4" / "x").exists()


def test_nothing_good_leaves_no_profile_and_says_why(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    store = FolderStore(tmp_path / "store")
    only = put_snapshot(store, tmp_path, profile)
    (tmp_path / "store" / CLIENT / f"{only}.json").write_text('{"version": 1, "nonsense"')
    target = tmp_path / "n" / "profile"
    target.parent.mkdir()
    result = restore_newest(store, CLIENT, target)
    assert result.restored_from is None and not target.exists()
    assert "manifest invalid" in result.skipped[0]["reason"]
    assert restore_newest(FolderStore(tmp_path / "empty"), CLIENT, target).skipped == []


def test_a_manifest_for_another_client_or_id_is_refused(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    store = FolderStore(tmp_path / "store")
    sid = put_snapshot(store, tmp_path, profile)
    path = tmp_path / "store" / CLIENT / f"{sid}.json"
    m = msgspec.json.decode(path.read_bytes(), type=Manifest)
    path.write_bytes(msgspec.json.encode(msgspec.structs.replace(m, client="other")))
    with pytest.raises(Exception, match="another snapshot"):
        store.manifest(CLIENT, sid)


def test_an_archive_without_manifest_is_no_snapshot_and_prune_keeps_the_newest(
    tmp_path: Path,
) -> None:
    profile = make_profile(tmp_path)
    store = FolderStore(tmp_path / "store")
    ids = [put_snapshot(store, tmp_path, profile, keep=10) for _ in range(4)]
    folder = tmp_path / "store" / CLIENT
    orphan = folder / f"{new_snapshot_id()}.tar.gz"  # an interrupted write: no manifest
    orphan.write_bytes(b"half")
    tmp = folder / ".tmp-abc-x.tar.gz"
    tmp.write_bytes(b"partial")
    assert store.list(CLIENT) == ids[::-1]
    assert store.prune(CLIENT, keep=2) == 2
    assert store.list(CLIENT) == ids[:1:-1]
    assert not (folder / f"{ids[0]}.tar.gz").exists()
    assert orphan.exists() and tmp.exists()  # recent: maybe another host is writing them
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    os.utime(tmp, (old, old))
    store.prune(CLIENT, keep=2)
    assert not orphan.exists() and not tmp.exists()
    store.purge(CLIENT)
    assert store.list(CLIENT) == [] and not folder.exists()


def test_needs_restore_only_without_a_profile(tmp_path: Path) -> None:
    p = tmp_path / "profile"
    assert needs_restore(p)
    p.mkdir()
    assert needs_restore(p)
    (p / "Local State").write_text("{}")
    assert not needs_restore(p)
    link = tmp_path / "linked"
    link.symlink_to(tmp_path / "nowhere")
    assert not needs_restore(link)  # never replaced through a link


def test_ids_sort_in_time_order_and_client_ids_are_checked(tmp_path: Path) -> None:
    a, b = new_snapshot_id(1_800_000_000.5), new_snapshot_id(1_800_000_000.75)
    assert a < b and a.startswith("20270115T080000500000Z-")
    store = FolderStore(tmp_path / "store")
    with pytest.raises(Exception, match="invalid client id"):
        store.list("../etc")


def test_an_unusable_store_folder_stops_the_daemon_with_its_name(tmp_path: Path) -> None:
    from wamc.config import Settings, load_settings
    from wamc.serve import DaemonError, check_settings

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DaemonError, match="WAMC_PROFILE_STORE"):
        check_settings(Settings(profile_store=blocker / "store"), "k" * 32)
    check_settings(Settings(profile_store=tmp_path / "store"), "k" * 32)
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    env = {"WAMC_HOME": str(tmp_path), "WAMC_PROFILE_STORE": str(tmp_path / "s")}
    loaded = load_settings({**env, "WAMC_PROFILE_SNAPSHOT_MINUTES": "30", "WAMC_PROFILE_KEEP": "5"})
    assert (loaded.profile_store, loaded.profile_snapshot_minutes, loaded.profile_keep) == (
        tmp_path / "s",
        30.0,
        5,
    )
    assert load_settings({"WAMC_HOME": str(tmp_path)}).profile_store is None  # off by default


async def test_backup_snapshots_only_clean_stops_of_linked_clients_and_restores(
    tmp_path: Path,
) -> None:
    from wamc.config import Settings
    from wamc.daemon.backend import Backoff
    from wamc.daemon.profiles.backup import ProfileBackup
    from wamc.daemon.registry import Client

    settings = Settings(home=tmp_path, profile_store=tmp_path / "store")
    backup = ProfileBackup(settings)
    client = Client(id=CLIENT, created_at="now", desired="running", backoff=Backoff(1, 1, 5, 1))
    make_profile(tmp_path)
    for outcome, linked in (("term", True), ("kill", True), ("clean", False)):
        async with backup.hold(CLIENT):
            await backup.after_stop(client, outcome, linked)
    assert backup.store is not None and backup.store.list(CLIENT) == []
    async with backup.hold(CLIENT):
        await backup.after_stop(client, "clean", True)
    [sid] = backup.store.list(CLIENT)
    assert client.profile is not None and client.profile["last_snapshot"]["id"] == sid

    await backup.before_start(client)  # a profile on disk: left alone
    assert client.profile["restore"] is None
    shutil.rmtree(settings.client_dir(CLIENT) / "profile")
    await backup.before_start(client)
    assert client.profile["restore"] == "restored" and client.profile["restored_from"] == sid
    assert (settings.client_dir(CLIENT) / "profile" / "Local State").read_text() == "{}"

    await backup.forget(CLIENT)  # logout or delete: nothing left to come back
    assert backup.store.list(CLIENT) == []
    shutil.rmtree(settings.client_dir(CLIENT) / "profile")
    await backup.before_start(client)
    assert (client.profile["restore"], client.profile["reason"]) == ("fresh", "no snapshot")


def test_periodic_snapshot_is_due_after_the_interval_and_never_mid_request(tmp_path: Path) -> None:
    from wamc.config import Settings
    from wamc.daemon.backend import Backoff
    from wamc.daemon.profiles.backup import ProfileBackup
    from wamc.daemon.registry import Client

    client = Client(id=CLIENT, created_at="now", desired="running", backoff=Backoff(1, 1, 5, 1))
    client.started_mono = time.monotonic() - 120
    off = ProfileBackup(Settings(home=tmp_path, profile_store=tmp_path / "s"))
    assert off.snapshot_due(client) is None  # minutes unset: off
    on = ProfileBackup(
        Settings(home=tmp_path, profile_store=tmp_path / "s", profile_snapshot_minutes=1)
    )
    assert on.snapshot_due(client) == "profile snapshot every 1 min"
    client.inflight = 1
    assert on.snapshot_due(client) is None  # a send in flight: not a quiet moment
    client.inflight = 0
    client.started_mono = time.monotonic() - 30
    assert on.snapshot_due(client) is None
    no_store = ProfileBackup(Settings(home=tmp_path, profile_snapshot_minutes=1))
    client.started_mono = time.monotonic() - 120
    assert no_store.snapshot_due(client) is None


async def test_a_cancelled_wait_lets_the_file_work_end_before_the_lock_goes() -> None:
    import asyncio
    import threading

    from wamc.daemon.profiles.backup import finish

    started, release, ended = threading.Event(), threading.Event(), threading.Event()

    def work() -> None:
        started.set()
        release.wait(10)
        ended.set()

    task = asyncio.create_task(finish(asyncio.to_thread(work)))
    assert await asyncio.to_thread(started.wait, 10)
    task.cancel()
    await asyncio.to_thread(release.wait, 0.2)  # the cancel is pending while the thread works
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended.is_set()
