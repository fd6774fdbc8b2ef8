"""Where the profile store's file work runs (wamc/daemon/profiles/site.py): a host agent works in
its node's own WAMC_HOME, restores a missing profile in its spawn's preparation and snapshots on
request; the daemon shows the outcome it returns exactly as a restore on its own host."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.test_profile_store import CLIENT, make_profile
from wamc.config import Settings
from wamc.daemon.agent import AGENT_PROTOCOL, HostAgent
from wamc.daemon.backend import Backoff
from wamc.daemon.profiles.backup import ProfileBackup
from wamc.daemon.registry import Client


def new_client() -> Client:
    return Client(id=CLIENT, created_at="now", desired="running", backoff=Backoff(1, 1, 5, 1))


def test_the_node_s_own_home_wins_over_the_daemon_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"WAMC_HOME": str(tmp_path / "daemon")}
    monkeypatch.delenv("WAMC_HOME", raising=False)
    assert HostAgent("n1", env, AGENT_PROTOCOL).local.settings.home == tmp_path / "daemon"
    monkeypatch.setenv("WAMC_HOME", str(tmp_path / "node"))
    agent = HostAgent("n1", env, AGENT_PROTOCOL)
    assert agent.local.settings.home == tmp_path / "node"
    assert agent.worker_env["WAMC_HOME"] == str(tmp_path / "node")  # what its workers get


async def test_an_agent_snapshots_and_restores_on_its_node_and_the_daemon_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, store = tmp_path / "node", tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv("WAMC_HOME", str(node))
    env = {"WAMC_HOME": str(tmp_path / "daemon"), "WAMC_PROFILE_STORE": str(store)}
    agent = HostAgent("n1", env, AGENT_PROTOCOL)
    make_profile(node)
    assert await agent._restore(CLIENT) is None  # a profile on this node: left alone
    manifest = await agent.snapshot(CLIENT, 2)
    assert (store / CLIENT / f"{manifest['id']}.json").is_file() and manifest["files"] > 0
    with pytest.raises(ValueError):
        await agent.snapshot("../x", 2)

    shutil.rmtree(node / "sessions")  # a node the client never ran on
    outcome = await agent._restore(CLIENT)
    assert outcome is not None and outcome["restored_from"] == manifest["id"]
    assert (node / "sessions" / CLIENT / "profile" / "Local State").read_text() == "{}"
    assert (node / "sessions").stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "daemon").exists()  # nothing on the daemon's home

    daemon = ProfileBackup(Settings(home=tmp_path / "daemon", profile_store=store))
    client = new_client()
    daemon.spawned(client, outcome)
    assert client.profile is not None
    assert (client.profile["restore"], client.profile["restored_from"]) == (
        "restored",
        manifest["id"],
    )
    daemon.spawned(client, None)  # a profile was on disk there: the last restore stays shown
    assert client.profile["restore"] == "restored"


async def test_a_store_missing_on_the_node_is_a_failed_restore_not_an_empty_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAMC_HOME", str(tmp_path / "node"))
    missing = tmp_path / "not-mounted"
    agent = HostAgent("n1", {"WAMC_PROFILE_STORE": str(missing)}, AGENT_PROTOCOL)
    outcome = await agent._restore(CLIENT)
    assert outcome is not None and "is not a folder on this node" in outcome["failed"]
    assert not missing.exists()
    daemon = ProfileBackup(Settings(home=tmp_path, profile_store=tmp_path / "store"))
    client = new_client()
    daemon.spawned(client, outcome)
    assert client.profile is not None and client.profile["restore"] == "failed"
    assert (client.last_error or "").startswith("profile restore failed: WAMC_PROFILE_STORE")
    no_store = HostAgent("n1", {}, AGENT_PROTOCOL)
    assert await no_store._restore(CLIENT) is None


def test_a_profile_left_on_a_host_is_replaced_by_a_newer_snapshot_taken_elsewhere(
    tmp_path: Path,
) -> None:
    """A client runs on one host at a time: a snapshot newer than the one a host's profile came
    from was taken elsewhere after the client left, so the profile here is stale."""
    from wamc.daemon.profiles import FolderStore
    from wamc.daemon.profiles.site import restore_missing, restore_outcome, snapshot_profile
    from wamc.daemon.profiles.snapshots import LINEAGE

    store = FolderStore(tmp_path / "store")
    a, b = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    make_profile(tmp_path / "a")
    first = snapshot_profile(store, a, CLIENT, 3)  # the client leaves host a
    assert (a.client_dir(CLIENT) / LINEAGE).read_text() == first.id
    assert restore_missing(store, a, CLIENT) is None  # current here: kept
    moved = restore_missing(store, b, CLIENT)  # host b never had it
    assert moved is not None and moved.restored_from == first.id
    b_profile = b.client_dir(CLIENT) / "profile"
    (b_profile / "Default" / "newer").write_text("linked on b")
    second = snapshot_profile(store, b, CLIENT, 3)  # it leaves host b

    back = restore_missing(store, a, CLIENT)  # back on host a: its profile is stale
    assert back is not None and back.restored_from == second.id
    a_profile = a.client_dir(CLIENT) / "profile"
    assert (a_profile / "Default" / "newer").read_text() == "linked on b"
    assert (a.client_dir(CLIENT) / LINEAGE).read_text() == second.id
    assert [p.name for p in a.client_dir(CLIENT).iterdir() if "stale" in p.name] == []

    # A crash on b (no snapshot): b's profile is newer than any snapshot and is kept.
    (b_profile / "Default" / "after-crash").write_text("x")
    assert restore_missing(store, b, CLIENT) is None
    assert (b_profile / "Default" / "after-crash").exists()

    # Newer snapshots that are all bad: the profile here stays, not an older snapshot.
    (a_profile / "Default" / "after-second").write_text("y")
    third = snapshot_profile(store, b, CLIENT, 3)
    archive = store.root / CLIENT / f"{third.id}.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-20])
    kept = restore_missing(store, a, CLIENT)  # second (good) is a's own lineage: no better
    assert kept is not None and kept.restored_from is None and kept.kept
    assert [s["id"] for s in kept.skipped] == [third.id]
    assert (a_profile / "Default" / "after-second").read_text() == "y"
    client = new_client()
    ProfileBackup(Settings(home=tmp_path, profile_store=store.root)).spawned(
        client, restore_outcome(kept)
    )
    assert client.profile is not None and client.profile["restore"] == "kept"
    assert "the older profile on this host kept" in (client.last_error or "")

    # No lineage (a profile older than the store): kept.
    (a.client_dir(CLIENT) / LINEAGE).unlink()
    assert restore_missing(store, a, CLIENT) is None


async def test_an_agent_wipes_a_logged_out_profile_or_a_deleted_client_s_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wamc.daemon.profiles.snapshots import LINEAGE

    monkeypatch.setenv("WAMC_HOME", str(tmp_path / "node"))
    agent = HostAgent("n1", {}, AGENT_PROTOCOL)
    make_profile(tmp_path / "node")
    folder = tmp_path / "node" / "sessions" / CLIENT
    (folder / LINEAGE).write_text("x")
    (folder / "worker.lock").write_text("")
    assert await agent.wipe(CLIENT, everything=False)  # a logout: the session only
    assert sorted(p.name for p in folder.iterdir()) == ["worker.lock"]
    assert (tmp_path / "node" / "outside-secret").read_text() == "not yours"  # links: not followed
    assert await agent.wipe(CLIENT, everything=True)  # a delete: everything of it
    assert not folder.exists() and (tmp_path / "node" / "sessions").is_dir()
    with pytest.raises(ValueError):
        await agent.wipe("../node", everything=True)


async def test_an_agent_reads_a_client_s_log_and_refuses_a_path_for_an_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAMC_HOME", str(tmp_path / "node"))
    agent = HostAgent("n1", {}, AGENT_PROTOCOL)
    logs = tmp_path / "node" / "logs"
    (logs / "clients").mkdir(parents=True)
    (logs / "clients" / f"{CLIENT}.log").write_text("one\ntwo\n")
    (logs / "wamc.log").write_text("the daemon's own log\n")
    assert await agent.logs(CLIENT, 1) == ["two"]
    with pytest.raises(ValueError):
        await agent.logs("../wamc", 10)
