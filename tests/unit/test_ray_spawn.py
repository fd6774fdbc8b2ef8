"""The Ray backend's start (wamc/daemon/ray_backend.py) when a node's spawn is given up on: the
call is cancelled and that node's agent drops the client, so a slow spawn finishing later never
runs a second browser of the session beside the next placement's (issue 14, fencing)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from types import SimpleNamespace
from typing import Any

import pytest

ray_backend = pytest.importorskip("wamc.daemon.ray_backend")
from wamc.daemon.placement import NodeView  # noqa: E402


class Ref:
    def __init__(self, result: dict[str, Any] | None) -> None:
        self.fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if result is not None:
            self.fut.set_result(result)

    def future(self) -> concurrent.futures.Future[Any]:
        return self.fut


class Method:
    def __init__(self, make: Any) -> None:
        self.make = make
        self.calls: list[tuple[Any, ...]] = []
        self.refs: list[Ref] = []

    def remote(self, *args: Any) -> Any:
        self.calls.append(args)
        self.refs.append(self.make())
        return self.refs[-1]


class Agent:
    def __init__(self, answers: bool) -> None:
        got = {"pid": 4242, "started": 1.0, "secret_hash": "h", "curve_public": "k"}
        self.spawn = Method(lambda: Ref(got if answers else None))
        self.drop = Method(lambda: Ref({}))


class Cluster:
    def __init__(self) -> None:
        self.views = {"n1": NodeView("n1", 2), "n2": NodeView("n2", 2)}
        self.info: dict[str, Any] = {}
        self.agents = {"n1": Agent(answers=False), "n2": Agent(answers=True)}
        self.on_capacity: list[Any] = []
        self.on_report: list[Any] = []
        self.suspected: list[str] = []

    def agent(self, node_id: str) -> Agent | None:
        return self.agents.get(node_id)

    def suspect(self, node_id: str, why: str) -> None:
        self.suspected.append(node_id)
        self.views[node_id].alive = False


async def _nothing(*args: Any) -> None:
    return None


async def test_a_spawn_given_up_on_is_cancelled_and_dropped_on_its_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cancelled: list[Any] = []
    monkeypatch.setattr(ray_backend.ray, "cancel", cancelled.append)
    monkeypatch.setattr(ray_backend.rows, "save", _nothing)
    monkeypatch.setattr(ray_backend, "SPAWN_TIMEOUT", 0.2)
    cluster = Cluster()
    backend = ray_backend.RayBackend(SimpleNamespace(profile_store=None), cluster, None)
    handle = await backend.start("acme", "unused")
    n1, n2 = cluster.agents["n1"], cluster.agents["n2"]
    assert handle.node == "n2" and handle.epoch == 2 and cluster.suspected == ["n1"]
    assert cancelled == n1.spawn.refs  # n1's own spawn call, and only it
    assert n1.drop.calls == [("acme",)] and n2.drop.calls == []
    assert cluster.views["n1"].clients == set() and cluster.views["n2"].clients == {"acme"}


async def test_a_start_cancelled_during_its_spawn_leaves_nothing_on_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cancelled: list[Any] = []
    monkeypatch.setattr(ray_backend.ray, "cancel", cancelled.append)
    monkeypatch.setattr(ray_backend.rows, "save", _nothing)
    cluster = Cluster()
    del cluster.views["n2"]
    backend = ray_backend.RayBackend(SimpleNamespace(profile_store=None), cluster, None)
    task = asyncio.create_task(backend.start("acme", "unused"))
    while not cluster.agents["n1"].spawn.calls:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == cluster.agents["n1"].spawn.refs
    assert cluster.agents["n1"].drop.calls == [("acme",)]
    assert cluster.suspected == [] and cluster.views["n1"].clients == set()


def test_a_kill_that_ray_refuses_does_not_raise_into_the_watchdog() -> None:
    from wamc.daemon.backend import WorkerHandle

    def refuse(*args: Any) -> Any:
        raise RuntimeError("Ray: the actor's connection is gone")

    cluster = Cluster()
    cluster.agents["n1"].kill = SimpleNamespace(remote=refuse)  # type: ignore[attr-defined]  # a refusing method
    cluster.agents["n1"].drop = SimpleNamespace(remote=refuse)  # type: ignore[assignment]  # a refusing method
    backend = ray_backend.RayBackend(SimpleNamespace(profile_store=None), cluster, None)
    backend.placed["acme"] = ("n1", 1)
    backend.kill(WorkerHandle("acme", 4242, 1.0, node="n1", epoch=1), None)
    assert backend.kill_browser("acme", None) is False
