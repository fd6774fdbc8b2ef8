"""Ray backend (issue 14): Ray's overhead per node, placement latency, failover of N clients.

A real Ray cluster on this machine, loopback only (tests/support/ray_cluster.py: token auth,
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, every node on 127.0.0.1, dashboard off): a head without
``wamc_slots`` and ``--nodes`` nodes offering slots, each node with its own ``WAMC_HOME`` (as
hosts would have) and one shared ``WAMC_PROFILE_STORE`` (as a shared mount). One invocation
measures, in order:

1. **Placement latency, local backend** (the baseline): a daemon with the local backend; for
   each of ``--placement`` clients, one at a time: API ``connect`` → worker spawned (its status
   has a pid) → QR shown; scanned; then, once all are linked and stopped, ``connect`` → spawned
   → ``connected`` (profile kept). Medians.
2. **The same on the Ray backend** (the clients spread over the nodes; spawned = the status has
   a pid and a node, i.e. the daemon placed it and the node's agent spawned it).
3. **Memory per node** (PSS, and RSS): the wamc host agent (the actor's process) and Ray's own
   processes of the node (its raylet and the raylet's other child processes: Ray's
   DashboardAgent and RuntimeEnvAgent, idle Ray workers), with 0 clients, with the placement
   clients running, and with ``--clients`` on one node. The clients' own trees (worker, driver,
   Chromium) are children of the agent and counted apart. The head's processes (GCS, monitor,
   log monitor, its raylet…) exist once per cluster and are given apart.
4. **Failover**: the other nodes drained, ``--clients`` clients linked on one node, each
   stopped cleanly (a snapshot, taken on that node, in the store) and started again there, the
   drains undone; then that node's raylet is killed (``remove_node``, not graceful). Per client:
   Ray's verdict (the daemon lists the node dead), placed elsewhere (a new worker spawned there,
   which includes the agent's restore of the profile from the store: the other nodes never had
   it), ``connected`` there; whether a restore ran (its status's ``profile.restore``) and
   whether it needed a QR (expected: none). A client that shows a QR is scanned through the
   simulator, so its time is still measured. ``--empty-store`` is the control: the clients'
   snapshots deleted before the kill, every one must end at a QR.

Loopback only; every wait has a deadline; ``--timeout`` bounds the whole run.

    .venv/bin/python -m bench.bench_ray --clients 10 --placement 5 --nodes 3 \
        [--empty-store] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import table, write_section  # noqa: E402
from tests.support import Daemon, SimControl, free_port  # noqa: E402
from tests.support.ray_cluster import gone  # noqa: E402
from wamc.simulator import Simulator  # noqa: E402

MB = 1024 * 1024
TITLE = "Ray backend: overhead per node, placement, failover (bench/bench_ray.py)"
POLL = 0.01  # seconds between status reads while timing one client
LAST: dict[str, dict[str, Any]] = {}  # each client's last status read (for a timeout's message)


def phone(group: int, i: int) -> str:
    return f"55119{group:02d}0{i:05d}"


# --- timing ---------------------------------------------------------------------------------------
async def until(probe: Callable[[], Awaitable[Any]], timeout: float, what: str) -> float:
    """Poll ``probe`` every POLL s; the monotonic time it first answered truthy."""
    deadline = time.monotonic() + timeout
    while True:
        if await probe():
            return time.monotonic()
        if time.monotonic() > deadline:
            last = {
                k: LAST.get(what.split()[0], {}).get(k) for k in ("state", "node", "last_error")
            }
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")
        await asyncio.sleep(POLL)


async def spawned(d: Daemon, client: str, ray: bool) -> bool:
    LAST[client] = st = await d.status(client)
    return st["pid"] is not None and (not ray or st["node"] is not None)


async def has_qr(d: Daemon, client: str) -> bool:
    code, _ = await d.call("GET", f"/api/clients/{client}/qr?format=json")
    return code == 200


async def in_state(d: Daemon, client: str, state: str) -> bool:
    LAST[client] = st = await d.status(client)
    return bool(st["state"] == state)


async def placement(
    d: Daemon, ctl: SimControl, clients: list[str], group: int, ray: bool
) -> dict[str, Any]:
    """Per client, one at a time: connect → spawned → QR (fresh); connect → spawned → connected
    (linked, profile kept). A linked client that shows a QR instead (its session lost, e.g. a
    stop that was not clean) is scanned and counted."""
    out: dict[str, Any] = {k: [] for k in ("fresh_spawn", "fresh_qr", "spawn", "connected")}
    for i, c in enumerate(clients):
        t0 = time.monotonic()
        code, body = await d.call("POST", f"/api/clients/{c}/connect")
        assert code == 202, body
        out["fresh_spawn"].append(
            await until(partial(spawned, d, c, ray), 120, f"{c} spawned") - t0
        )
        out["fresh_qr"].append(await until(partial(has_qr, d, c), 120, f"{c}'s QR") - t0)
        await ctl.scan(await d.qr(c), phone(group, i))
        await d.wait_state(c, "connected", timeout=120)
    out["stops"] = await stop_all(d, clients)
    out["relink_qr"] = []
    for i, c in enumerate(clients):
        t0 = time.monotonic()
        code, body = await d.call("POST", f"/api/clients/{c}/connect")
        assert code == 202, body
        out["spawn"].append(await until(partial(spawned, d, c, ray), 120, f"{c} spawned") - t0)
        probe = partial(connected_or_scan, d, ctl, c, phone(group, i), out["relink_qr"])
        out["connected"].append(await until(probe, 120, f"{c} connected") - t0)
    return out


async def connected_or_scan(
    d: Daemon, ctl: SimControl, client: str, phone_no: str, scanned: list[str]
) -> bool:
    LAST[client] = st = await d.status(client)
    if st["state"] == "qr" and client not in scanned:
        code, body = await d.call("GET", f"/api/clients/{client}/qr?format=json")
        if code == 200:
            await ctl.scan(body["qr"], phone_no)
            scanned.append(client)
    return bool(st["state"] == "connected")


async def stop_all(d: Daemon, clients: list[str]) -> Counter[str]:
    """Every client stopped; how their stops ended (clean | term | kill)."""
    for c in clients:
        code, body = await d.call("POST", f"/api/clients/{c}/disconnect")
        assert code in (200, 202), body
    ends: Counter[str] = Counter()
    for c in clients:
        ends[str((await d.wait_state(c, "stopped", timeout=120))["stop_outcome"])] += 1
    return ends


async def connect_all(d: Daemon, clients: list[str], timeout: float = 300) -> None:
    for c in clients:
        code, body = await d.call("POST", f"/api/clients/{c}/connect")
        assert code == 202, body
    for c in clients:
        await d.wait_state(c, "connected", timeout=timeout)


# --- memory ---------------------------------------------------------------------------------------
def mem(proc: psutil.Process) -> tuple[float, float]:
    """(PSS, RSS) in MB; 0 for a process gone meanwhile."""
    with contextlib.suppress(psutil.Error):
        info = proc.memory_full_info()
        return info.pss / MB, info.rss / MB
    return 0.0, 0.0


def tree(proc: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [proc, *proc.children(recursive=True)]
    return []


def kind(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        name = proc.name()
        return "Ray idle worker" if name.startswith("ray::IDLE") else name.removeprefix("ray::")
    return "?"


def node_memory(raylet_pid: int, agent_pid: int | None) -> dict[str, Any]:
    """One node's processes by role: the wamc agent, Ray's own (the raylet and its other
    children, by name), and the clients' trees under the agent."""
    raylet = psutil.Process(raylet_pid)
    parts: defaultdict[str, float] = defaultdict(float)
    rss: defaultdict[str, float] = defaultdict(float)
    parts["raylet"], rss["raylet"] = mem(raylet)
    clients = 0.0
    for child in raylet.children():
        if child.pid == agent_pid:
            parts["agent"], rss["agent"] = mem(child)
            clients += sum(mem(p)[0] for p in tree(child)[1:])
            continue
        for p in tree(child):
            pss_mb, rss_mb = mem(p)
            parts[kind(p)] += pss_mb
            rss[kind(p)] += rss_mb
    ray_pss = sum(v for k, v in parts.items() if k != "agent")
    ray_rss = sum(v for k, v in rss.items() if k != "agent")
    return {
        "pss": dict(parts),
        "rss": dict(rss),
        "ray_pss": ray_pss,
        "ray_rss": ray_rss,
        "clients_pss": clients,
    }


def head_memory(head: Any) -> tuple[float, float, list[str]]:
    """The head's processes (GCS, monitor, log monitor, its raylet and its children): once per
    cluster, not per node."""
    procs: dict[int, psutil.Process] = {}
    for infos in head.all_processes.values():
        for info in infos:
            with contextlib.suppress(psutil.Error):
                for p in tree(psutil.Process(info.process.pid)):
                    procs[p.pid] = p
    figures = [mem(p) for p in procs.values()]
    names = sorted({kind(p) for p in procs.values()})
    return sum(f[0] for f in figures), sum(f[1] for f in figures), names


# --- the cluster ----------------------------------------------------------------------------------
@contextlib.contextmanager
def cluster(root: Path, nodes: int, slots: int) -> Iterator[Any]:
    """tests/support/ray_cluster.py's loopback cluster with ``slots`` per node, the nodes' homes
    and the shared store under ``root`` (sets Ray's environment before Ray is imported)."""
    from tests.support.ray_cluster import local_cluster

    with local_cluster(root, 0) as made:
        for _ in range(nodes):
            made.add(slots)
        yield made


async def ready_nodes(d: Daemon, count: int) -> dict[str, dict[str, Any]]:
    from tests.support.ray_cluster import nodes_of

    deadline = time.monotonic() + 120
    while True:
        nodes = await nodes_of(d)
        alive = {k: v for k, v in nodes.items() if v["alive"]}
        if len(alive) == count and all(v["agent_pid"] for v in alive.values()):
            return alive
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} nodes with their agents: {nodes}")
        await asyncio.sleep(0.3)


def raylets(made: Any) -> dict[str, int]:
    return {str(n.node_id): n.all_processes["raylet"][0].process.pid for n in made.nodes}


async def memory_of_nodes(d: Daemon, made: Any, label: str) -> list[dict[str, Any]]:
    from tests.support.ray_cluster import nodes_of

    nodes = await nodes_of(d)
    rows = []
    for node_id, raylet_pid in raylets(made).items():
        got = await asyncio.to_thread(node_memory, raylet_pid, nodes[node_id]["agent_pid"])
        rows.append(
            {"when": label, "node": node_id, "clients": len(nodes[node_id]["clients"]), **got}
        )
    return rows


def daemon_pss(d: Daemon) -> float:
    """The daemon's own process (its workers, children on the local backend, are not counted)."""
    assert d.proc is not None
    return mem(psutil.Process(d.proc.pid))[0]


# --- failover -------------------------------------------------------------------------------------
def restore_at_failover(before: dict[str, Any], after: dict[str, Any], had_profile: bool) -> str:
    """Whether the spawn after the loss ran a restore, and its status's ``profile.restore``.
    A spawn restores whenever its node has no profile of the client (``had_profile``: checked on
    disk before the loss); the status also says so when it changed since ``before`` (a "fresh"
    with no snapshot looks the same twice, hence the disk)."""

    def attempt(st: dict[str, Any]) -> tuple[Any, ...]:
        p = st["profile"] or {}
        return (p.get("restore"), p.get("restored_from"), p.get("seconds"), p.get("reason"))

    now = attempt(after)
    return "none" if had_profile and now == attempt(before) else str(now[0])


async def link_on_one_node(
    d: Daemon, ctl: SimControl, made: Any, clients: list[str], group: int
) -> tuple[str, int, Counter[str]]:
    """The other nodes drained, every client linked on the first node, each stopped cleanly (a
    snapshot) and started again there; the drains undone. (target node, snapshots taken)."""
    nodes = await ready_nodes(d, len(made.nodes))
    target, *others = sorted(nodes)
    for node in others:
        code, body = await d.call("POST", f"/api/nodes/{node}/drain")
        assert code == 202, body
    for c in clients:
        code, body = await d.call("POST", f"/api/clients/{c}/connect")
        assert code == 202, body
    for i, c in enumerate(clients):
        await ctl.scan(await d.qr(c, timeout=300), phone(group, i))
    for c in clients:
        await d.wait_state(c, "connected", timeout=300)
    stops = await stop_all(d, clients)
    snapshots = 0
    for c in clients:
        snapshots += bool(((await d.status(c))["profile"] or {}).get("last_snapshot"))
    await connect_all(d, clients)
    for node in others:
        code, body = await d.call("DELETE", f"/api/nodes/{node}/drain")
        assert code == 202, body
    where = Counter([(await d.status(c))["node"] for c in clients])
    assert where == {target: len(clients)}, where
    return target, snapshots, stops


async def watch(
    d: Daemon,
    ctl: SimControl,
    clients: dict[str, str],
    lost: str,
    old_pids: dict[str, int | None],
    t0: float,
    timeout: float,
) -> dict[str, Any]:
    """From the node's loss until every client is connected on another node; QRs scanned.
    Times from ``t0`` (the kill): the daemon lists the node not alive (its agent did not
    answer: suspect, its clients still wait), Ray's verdict (``ray.nodes()`` has it dead), per
    client placed (a new worker on another node: the spawn and its restore done), connected."""
    from tests.support.ray_cluster import nodes_of

    seen_lost: float | None = None
    ray_dead: float | None = None
    placed: dict[str, float] = {}
    connected: dict[str, float] = {}
    scanned: set[str] = set()
    while len(connected) < len(clients):
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(
                f"failover: {len(connected)}/{len(clients)} connected after {timeout:.0f}s"
            )
        if seen_lost is None and not (await nodes_of(d))[lost]["alive"]:
            seen_lost = time.monotonic()
        if ray_dead is None and await asyncio.to_thread(dead_in_ray, lost):
            ray_dead = time.monotonic()
        waiting = [c for c in clients if c not in connected]
        statuses = await asyncio.gather(*(d.status(c) for c in waiting))
        for c, st in zip(waiting, statuses, strict=True):
            now = time.monotonic()
            if st["node"] in (None, lost) or st["pid"] in (None, old_pids[c]):
                continue
            placed.setdefault(c, now)
            if st["state"] == "qr" and c not in scanned:
                code, body = await d.call("GET", f"/api/clients/{c}/qr?format=json")
                if code == 200:
                    await ctl.scan(body["qr"], clients[c])
                    scanned.add(c)
            if st["state"] == "connected":
                connected[c] = now
        await asyncio.sleep(0.1)
    return {
        "seen_lost": (seen_lost or t0) - t0,
        "ray_dead": None if ray_dead is None else ray_dead - t0,
        "placed": {c: t - t0 for c, t in placed.items()},
        "connected": {c: t - t0 for c, t in connected.items()},
        "qr": sorted(scanned),
    }


def dead_in_ray(node_id: str) -> bool:
    """Ray's verdict: the node listed dead, or gone from its list."""
    import ray

    alive = {str(n["NodeID"]): n.get("Alive") for n in ray.nodes()}
    return not alive.get(node_id, False)


def has_profile(home: Path, client: str) -> bool:
    return (home / "sessions" / client / "profile").is_dir()


async def failover(
    d: Daemon, ctl: SimControl, made: Any, n: int, timeout: float, empty_store: bool
) -> dict[str, Any]:
    clients = {f"fo{i}": phone(3, i) for i in range(n)}
    target, snapshots, stops = await link_on_one_node(d, ctl, made, list(clients), 3)
    memory = await memory_of_nodes(d, made, f"{n} clients on one node")
    if empty_store:  # the control: nothing to restore from
        for c in clients:
            shutil.rmtree(made.store / c, ignore_errors=True)
    before = {c: await d.status(c) for c in clients}
    had = {(node, c): has_profile(home, c) for node, home in made.homes.items() for c in clients}
    old: list[tuple[int, float]] = []
    for st in before.values():
        for pid in (st["pid"], st["browser_pid"]):
            with contextlib.suppress(psutil.Error, TypeError):
                old.append((pid, psutil.Process(pid).create_time()))
    t0 = time.monotonic()
    await asyncio.to_thread(made.remove, target)  # its raylet killed, not graceful
    removed = time.monotonic() - t0
    got = await watch(
        d, ctl, clients, target, {c: st["pid"] for c, st in before.items()}, t0, timeout
    )
    after = {c: await d.status(c) for c in clients}
    deadline = time.monotonic() + 60
    while not all(gone(*p) for p in old) and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    per_client = {
        c: {
            "node": str(st["node"]),
            "restore": restore_at_failover(before[c], st, had[(str(st["node"]), c)]),
            "restore_s": (st["profile"] or {}).get("seconds"),
            "reason": (st["profile"] or {}).get("reason"),
            "qr": c in got["qr"],
            "placed": got["placed"][c],
            "connected": got["connected"][c],
        }
        for c, st in after.items()
    }
    return {
        "seen_lost": got["seen_lost"],
        "ray_dead": got["ray_dead"],
        "per_client": per_client,
        "clients": n,
        "snapshots": snapshots,
        "stops": stops,
        "remove_call": removed,
        "empty_store": empty_store,
        "landed": Counter(str(st["node"]) for st in after.values()),
        "left": sum(not gone(*p) for p in old),
        "old_processes": len(old),
        "memory": memory,
        "target": target,
    }


# --- the run --------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="wamc-bench-ray-"))
    sim = Simulator(host="127.0.0.1", port=0)
    await sim.start()
    out: dict[str, Any] = {
        "args": vars(args),
        "load": [os.getloadavg()[0]],
        "began": time.monotonic(),
    }
    common = {
        "WAMC_START_CONCURRENCY": str(args.start_concurrency),
        "WAMC_STOP_WORKERS_ON_EXIT": "1",
    }
    pclients = [f"pl{i}" for i in range(args.placement)]
    try:
        async with aiohttp.ClientSession() as http:
            ctl = SimControl(sim, http)
            (root / "local").mkdir()
            local = Daemon(
                root / "local",
                sim,
                {
                    **common,
                    "WAMC_ZMQ_ENDPOINT": f"tcp://127.0.0.1:{free_port()}",  # the same link as Ray's
                    "WAMC_PROFILE_STORE": str(root / "store-local"),
                },
            )
            try:
                await local.start()
                out["local"] = await placement(local, ctl, pclients, 1, ray=False)
                out["local_daemon"] = daemon_pss(local)
            except BaseException:
                print(f"--- the local daemon's log, last lines:\n{local.tail(60)}", file=sys.stderr)
                raise
            finally:
                await local.close()
            await ray_side(args, root, sim, ctl, common, pclients, out)
            out["load"].append(os.getloadavg()[0])
            out["took"] = time.monotonic() - out["began"]
    finally:
        await sim.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


async def ray_side(
    args: argparse.Namespace,
    root: Path,
    sim: Simulator,
    ctl: SimControl,
    common: dict[str, str],
    pclients: list[str],
    out: dict[str, Any],
) -> None:
    slots = max(args.clients, args.placement, 1)
    t0 = time.monotonic()
    with cluster(root / "cluster", args.nodes, slots) as made:
        from tests.support.ray_cluster import end_agents, ray_env

        out["cluster_up"] = time.monotonic() - t0
        (root / "ray").mkdir()
        env = {**ray_env(made), **common}  # the cluster's shared profile store
        d = Daemon(root / "ray", sim, env)
        try:
            await d.start()
            await ready_nodes(d, args.nodes)
            out["agents_ready"] = time.monotonic() - t0
            memory = await memory_of_nodes(d, made, "0 clients")
            out["ray"] = await placement(d, ctl, pclients, 2, ray=True)
            memory += await memory_of_nodes(d, made, f"{len(pclients)} clients spread")
            out["ray_daemon"] = daemon_pss(d)
            out["head"] = head_memory(made.cluster.head_node)
            await stop_all(d, pclients)
            if args.clients:
                out["failover"] = await failover(
                    d, ctl, made, args.clients, args.failover_timeout, args.empty_store
                )
                memory += out["failover"].pop("memory")
            out["memory"] = memory
        except BaseException:
            print(f"--- the Ray daemon's log, last lines:\n{d.tail(80)}", file=sys.stderr)
            raise
        finally:
            await d.close()
            end_agents(d)


# --- the report -----------------------------------------------------------------------------------
def med(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "–"


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f}" if values else "–"


def flat(row: dict[str, Any]) -> dict[str, float]:
    """One node's figures as flat numbers (MB; ``pss:<name>`` per Ray process kind)."""
    return {
        "clients": float(row["clients"]),
        "agent": row["pss"].get("agent", 0.0),
        "agent_rss": row["rss"].get("agent", 0.0),
        "ray": row["ray_pss"],
        "ray_rss": row["ray_rss"],
        "trees": row["clients_pss"],
        **{f"pss:{k}": v for k, v in row["pss"].items() if k != "agent"},
    }


def means(group: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for r in group for k in r}
    return {k: sum(r.get(k, 0.0) for r in group) / len(group) for k in keys}


def memory_table(rows: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, float]]] = {}
    for row in rows:
        label = row["when"]
        if row["when"] != "0 clients":
            label += ", " + ("nodes running them" if row["clients"] else "the nodes without one")
        groups.setdefault(label, []).append(flat(row))
    names = sorted({k for g in groups.values() for r in g for k in r if k.startswith("pss:")})
    names.remove("pss:raylet")
    out = []
    for label, group in groups.items():
        m = means(group)
        out.append(
            [
                label,
                len(group),
                f"{m['clients']:.1f}",
                f"{m['agent']:.0f} ({m['agent_rss']:.0f})",
                f"{m['pss:raylet']:.0f}",
                *(f"{m.get(k, 0.0):.0f}" for k in names),
                f"{m['ray']:.0f} ({m['ray_rss']:.0f})",
                f"{m['ray'] + m['agent']:.0f}",
                f"{m['trees']:.0f}",
            ]
        )
    headers = [
        "nodes measured",
        "nodes",
        "clients per node",
        "wamc agent MB",
        "raylet MB",
        *(f"{k.removeprefix('pss:')} MB" for k in names),
        "Ray's own MB",
        "Ray + agent MB",
        "clients' trees MB",
    ]
    return table(headers, out)


def report(r: dict[str, Any]) -> str:
    a = r["args"]
    n_pl = a["placement"]
    local, ray = r["local"], r["ray"]
    md = (
        f"A loopback Ray {__import__('ray').__version__} cluster on this machine: a head (no "
        f"`wamc_slots`) and {a['nodes']} nodes with `wamc_slots: {max(a['clients'], n_pl, 1)}`, "
        "token auth on, dashboard off (tests/support/ray_cluster.py); the simulator's light "
        f"page; `WAMC_START_CONCURRENCY={a['start_concurrency']}`; the worker link TCP + "
        f"CurveZMQ on both backends. Cluster up in {r['cluster_up']:.1f} s, its agents ready "
        f"{r['agents_ready']:.1f} s after the start.\n\n"
        f"**Placement latency**, {n_pl} clients one at a time, medians (ms), the local backend "
        "(the baseline) and the Ray backend in the same invocation. Spawned: the client's status "
        "has a worker pid (on Ray: and a node: the daemon chose it and that node's agent spawned "
        "the worker).\n\n"
        + table(
            [
                "backend",
                "new client: connect → spawned",
                "connect → QR",
                "linked client: connect → spawned",
                "connect → connected",
            ],
            [
                [name, ms(t["fresh_spawn"]), ms(t["fresh_qr"]), ms(t["spawn"]), ms(t["connected"])]
                for name, t in (("local", local), ("Ray", ray))
            ],
        )
        + relink_note(local, ray)
        + f"\n\nThe daemon's own PSS: {r['local_daemon']:.0f} MB (local), "
        f"{r['ray_daemon']:.0f} MB (Ray: the daemon is also a Ray driver).\n\n"
        "**Memory per node**, means over the nodes of each row; PSS (shared pages split between "
        "sharers) in MB, RSS in parentheses where given. The wamc agent is the host agent actor's "
        "process. Ray's own: the node's raylet and the raylet's other child processes (named by "
        "their process title); the clients' trees (worker, Playwright driver, Chromium, children "
        "of the agent) are apart.\n\n" + memory_table(r["memory"])
    )
    pss, rss, names = r["head"]
    md += (
        f"\n\nThe head, once per cluster (no clients): {pss:.0f} MB PSS ({rss:.0f} MB RSS) over "
        f"{', '.join(names)}. All nodes share this one machine, so pages of Ray's binaries and "
        "libraries are shared between the nodes' processes and PSS splits them: on a host of its "
        "own a node's figure lies between the PSS and the RSS given."
    )
    fo = r.get("failover")
    if fo:
        md += "\n\n" + failover_report(fo)
    md += (
        f"\n\nThe whole run took {r['took']:.0f} s; load average (1 min) {r['load'][0]:.1f} at "
        f"its start, {r['load'][1]:.1f} at its end, on {os.cpu_count()} cores shared with other "
        "runs."
    )
    return md


def relink_note(local: dict[str, Any], ray: dict[str, Any]) -> str:
    """How the stops before the linked restarts ended, and any restart that needed a QR."""
    parts = []
    for name, t in (("local", local), ("Ray", ray)):
        stops = ", ".join(f"{k} {v}" for k, v in sorted(t["stops"].items()))
        qr = f"; linked restarts that showed a QR (scanned): {len(t['relink_qr'])}"
        parts.append(f"{name}: stops {stops}{qr if t['relink_qr'] else ''}")
    return "\n\nBefore the linked restarts, " + "; ".join(parts) + "."


def split(fo: dict[str, Any]) -> list[list[Any]]:
    """The failover's summary: Ray's verdict, then placement (the daemon's choice, the agent's
    spawn with its restore), then the browser's connect; medians and the slowest client. A
    client placed before Ray's verdict (its STICKY_WAIT ran out first) counts placement from
    the kill."""
    per = fo["per_client"].values()
    verdict = fo["ray_dead"]  # None: not yet when the last client connected
    placing = [c["placed"] - (verdict if verdict and c["placed"] >= verdict else 0) for c in per]
    connecting = [c["connected"] - c["placed"] for c in per]
    restored = [c["restore_s"] for c in per if c["restore"] == "restored" and c["restore_s"]]
    qr = sum(c["qr"] for c in per)
    return [
        [
            fo["clients"],
            f"{fo['seen_lost']:.1f}",
            "later" if verdict is None else f"{verdict:.1f}",
            f"{med(placing)} / {max(placing):.1f}",
            f"{med(restored)}" if restored else "–",
            f"{med(connecting)} / {max(connecting):.1f}",
            f"{max(c['placed'] for c in per):.1f}",
            f"{max(c['connected'] for c in per):.1f}",
            f"{qr}/{fo['clients']}",
        ]
    ]


def per_client_table(fo: dict[str, Any]) -> str:
    nodes = {node: f"n{i + 1}" for i, node in enumerate(sorted(fo["landed"]))}
    rows = []
    for name, c in sorted(fo["per_client"].items(), key=lambda kv: kv[1]["connected"]):
        restore = c["restore"]
        if restore != "restored" and c["reason"]:
            restore += f" ({c['reason']})"
        restore_s = f"{c['restore_s']:.2f}" if restore == "restored" and c["restore_s"] else "–"
        qr = "yes" if c["qr"] else "no"
        times = [f"{c['placed']:.1f}", f"{c['connected']:.1f}"]
        rows.append([name, nodes[c["node"]], restore, restore_s, qr, *times])
    headers = ["client", "landed on", "profile.restore", "restore s", "QR", "placed", "connected"]
    return table(headers, rows)


def failover_report(fo: dict[str, Any]) -> str:
    n = fo["clients"]
    landed = "/".join(str(v) for v in sorted(fo["landed"].values(), reverse=True))
    control = (
        " **Control run (`--empty-store`)**: the clients' snapshots were deleted before the "
        "kill, so each must end at a QR (scanned through the simulator; the time includes it)."
        if fo["empty_store"]
        else ""
    )
    stops = ", ".join(f"{k} {v}" for k, v in sorted(fo["stops"].items()))
    return (
        f"**Failover**, {n} clients linked on one node (the others drained while they linked, "
        f"then undrained); each stopped cleanly and started again there first (stops: {stops}; "
        f"snapshots in the shared `WAMC_PROFILE_STORE`: {fo['snapshots']}/{n} clients had one)."
        f"{control} Then that node's raylet was killed (`remove_node(allow_graceful=False)`, "
        f"{fo['remove_call']:.1f} s for the call). Each node has its own `WAMC_HOME`, so on the "
        "nodes they landed on the clients' profiles came only from the store, restored by that "
        "node's agent inside the spawn. Times from the kill (s). Node not alive: `GET "
        "/api/nodes` shows it so (its agent did not answer: no new clients go there, its "
        "clients still wait, up to 20 s, for Ray's verdict); Ray's verdict: `ray.nodes()` lists "
        "it dead; placement: from Ray's verdict (or from the kill for a client that stopped "
        "waiting first) to a new worker spawned on another node (the daemon's choice, the "
        "agent's restore and spawn); connect: from then to `connected`; median / slowest:"
        "\n\n"
        + table(
            [
                "clients",
                "daemon: node not alive",
                "Ray's verdict",
                "placement",
                "restore s (p50)",
                "connect",
                "all placed",
                "all connected",
                "QR needed",
            ],
            split(fo),
        )
        + "\n\nPer client (`profile.restore`: the status after the loss; `none`: no restore "
        "ran, a profile was on that node's disk):\n\n"
        + per_client_table(fo)
        + f"\n\nLanded {landed} on the remaining nodes. The lost node's client processes "
        f"(workers and browsers) still running after a wait of up to 60 s: "
        f"{fo['left']}/{fo['old_processes']}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10, help="failover clients (0: skip)")
    parser.add_argument("--placement", type=int, default=5, help="placement-latency clients")
    parser.add_argument("--nodes", type=int, default=3, help="Ray nodes offering slots (≥ 2)")
    parser.add_argument("--start-concurrency", type=int, default=3)
    parser.add_argument("--failover-timeout", type=float, default=240.0)
    parser.add_argument("--timeout", type=float, default=1200.0, help="bound on the whole run (s)")
    parser.add_argument(
        "--empty-store",
        action="store_true",
        help="the control: the failover clients' snapshots deleted before the kill (must end "
        "at a QR, scanned)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.nodes < 2 or args.placement < 1:
        parser.error("--nodes must be ≥ 2 (one is lost) and --placement ≥ 1")
    result = asyncio.run(asyncio.wait_for(run(args), args.timeout))
    md = report(result)
    print(md)
    if not args.no_write:
        write_section(TITLE, md)


if __name__ == "__main__":
    main()
