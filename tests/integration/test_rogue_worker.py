"""A rogue worker hurts nobody: a fake worker on the real daemon's worker socket sends over
10,000 fuzzed frames (hypothesis: valid envelopes with hostile fields, truncated msgpack, huge
maps), once without the worker secret (refused before anything else) and once with it; /health
stays fast, another client keeps delivering, the daemon goes idle, and a frame over the size cap
gets the worker restarted."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sqlite3
import statistics
import time
from typing import Any

import msgpack
import psutil
import zmq
import zmq.asyncio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.test_events_ws import Consumer
from tests.integration.test_hostile_page import daemon_idle_within
from tests.support import Daemon, wait_for
from wamc.config import load_settings
from wamc.wire import events as W
from wamc.wire import frames as F

PHONE_GOOD = "5511900000301"
PHONE_VICTIM = "5511900000302"
CONTACT = "5511955557777"
FIELDS = ["id", "chat_id", "from", "to", "body", "type", "timestamp", "ack", "ids", "chat"]
FIELDS += ["state", "me", "reason", "error", "qr", "unread", "participants", "is_online"]
NAMES = [*W.PAYLOADS, "x" * 70, "", "nope"]

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=40),
)
hostile = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=16,
)
data = st.dictionaries(st.sampled_from(FIELDS), hostile, max_size=8)
envelope = st.one_of(
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "t": st.just("event"),
            "dn": st.integers(-5, 2**64 - 1) | hostile,
            "name": st.sampled_from(NAMES) | hostile,
            "data": data | hostile,
        }
    ),
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "t": st.just("hb"),
            "state": st.text(max_size=70) | hostile,
            "browser_pid": st.integers(-1, 2**40) | hostile,
        }
    ),
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "t": st.just("hello"),
            "client": st.text(max_size=70) | hostile,
            "boot": st.text(max_size=130) | hostile,
            "pid": st.integers(-1, 2**40) | hostile,
            "state": hostile,
            "secret": st.text(max_size=50) | hostile,
        }
    ),
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "t": st.just("reply"),
            "id": st.text(max_size=40) | hostile,
            "ok": st.booleans() | hostile,
            "error": hostile,
            "result": hostile,
        }
    ),
    # Media chunks and acks (issue 11): well-formed ones name transfers nobody opened.
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "t": st.just("chunk"),
            "transfer": st.text("0123456789abcdef", min_size=32, max_size=32) | hostile,
            "seq": st.integers(-1, 2**32) | hostile,
            "data": st.binary(max_size=64) | hostile,
            "last": st.booleans() | hostile,
        }
    ),
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "t": st.just("chunk_ack"),
            "transfer": st.text("0123456789abcdef", min_size=32, max_size=32) | hostile,
            "next": st.integers(-1, 2**32) | hostile,
            "error": st.none() | hostile,
        }
    ),
    st.fixed_dictionaries({"v": hostile, "t": hostile}),
)
packed = envelope.map(lambda m: msgpack.packb(m, use_bin_type=True))
raw_frame = st.one_of(
    packed,
    packed.flatmap(lambda b: st.integers(0, max(0, len(b) - 1)).map(lambda n: b[:n])),
    st.binary(max_size=64),
)


def fuzzed_frames(at_least: int) -> list[bytes]:
    """Frames drawn by hypothesis (each example draws a batch), topped up to ``at_least``."""
    out: list[bytes] = []

    @settings(
        max_examples=at_least // 4,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(raw_frame, min_size=1, max_size=8))
    def draw(batch: list[bytes]) -> None:
        out.extend(batch)

    draw()
    while len(out) < at_least:
        out.extend(out[: at_least - len(out)])
    return out


def huge_map(dn: int) -> bytes:
    """A valid envelope around a map of 60,000 keys (≈ 0.8 MB: under the cap)."""
    payload = {f"k{i}": i for i in range(60_000)}
    return msgpack.packb({"v": 1, "t": "event", "dn": dn, "name": "message", "data": payload})


class HealthProbe:
    """/health every 20 ms in the background; the latencies it saw."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.latencies: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HealthProbe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            code, _ = await self.daemon.call("GET", "/health")
            assert code == 200
            self.latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.02)  # the probe's pace (every 20 ms), not synchronisation

    def check(self) -> tuple[float, float]:
        assert len(self.latencies) >= 20, self.latencies
        p95 = statistics.quantiles(self.latencies, n=20)[-1]
        return p95, max(self.latencies)


class Rogue:
    """A DEALER on the daemon's worker socket, with a routing id of a worker's form, and PLAIN
    credentials when it has some (a real worker's are its routing id and its secret)."""

    def __init__(self, daemon: Daemon, identity: str, secret: str | None = None) -> None:
        endpoint = load_settings({"WAMC_HOME": str(daemon.home)}).endpoint()
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, identity.encode())
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        if secret is not None:
            self.sock.setsockopt(zmq.PLAIN_USERNAME, identity.encode())
            self.sock.setsockopt(zmq.PLAIN_PASSWORD, secret.encode())
        self.sock.connect(endpoint)
        self.received: list[Any] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            raw = await self.sock.recv()
            self.received.append(F.decode_from_daemon(raw))

    async def send_all(self, frames: list[bytes]) -> None:
        for i, raw in enumerate(frames):
            await self.sock.send(raw)
            if i % 200 == 0:
                await asyncio.sleep(0)  # let the probes run in this process too

    def try_send_all(self, frames: list[bytes]) -> int:
        """Without waiting (a connection the daemon refused takes nothing): how many went."""
        sent = 0
        for raw in frames:
            fut = self.sock.send(raw, zmq.NOBLOCK)
            if not fut.done():
                fut.add_done_callback(lambda f: f.cancelled() or f.exception())
            elif fut.exception() is None:
                sent += 1
        return sent

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self.sock.close(0)
        self.ctx.term()


def costly_frame() -> bytes:
    """A frame under the cap whose full decoding would build ~2 million empty lists (hundreds
    of milliseconds of the daemon's loop each): ``data`` first, then an invalid ``dn``."""
    n = F.FRAME_CAP - 200
    array = b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n
    head = msgpack.packb("data") + b"\x81" + msgpack.packb("k") + array
    tail = b"".join(msgpack.packb(x) for x in ("v", 1, "t", "event", "dn", -1, "name", "message"))
    raw = b"\x85" + head + tail
    assert len(raw) <= F.FRAME_CAP
    return raw


async def known_secret(daemon: Daemon, client: str) -> str:
    """Make ``client``'s worker secret one the test knows, as an operator with the database
    could: the daemon keeps only its hash, and the worker got it through a pipe. The daemon is
    restarted on the same home (it adopts the workers) to read the new hash."""
    secret = "rogue-" + "x" * 40
    await daemon.stop()
    db = sqlite3.connect(daemon.home / "sessions" / ".wamc" / "wamc.db")
    with db:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        db.execute("UPDATE clients SET worker_secret_hash=? WHERE id=?", (digest, client))
    db.close()
    await daemon.start()
    return secret


async def test_rogue_worker_fuzz_hurts_nobody(make_daemon: Any, sim_http: Any) -> None:
    daemon: Daemon = await make_daemon({"WAMC_STOP_TIMEOUT": "2", "WAMC_HEARTBEAT_TIMEOUT": "60"})
    await daemon.connect_scanned(sim_http, "good", PHONE_GOOD)
    victim = await daemon.connect_scanned(sim_http, "victim", PHONE_VICTIM)
    # The secret is in no environment, no command line.
    worker = psutil.Process(victim["pid"])
    assert not any("SECRET" in k for k in worker.environ()), sorted(worker.environ())
    assert all(len(arg) < 40 or "/" in arg for arg in worker.cmdline()), worker.cmdline()
    frames = fuzzed_frames(10_000)
    assert len(frames) >= 10_000
    costly = costly_frame()

    # The real victim worker is frozen: the rogue speaks for it from here on.
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        secret = await known_secret(daemon, "victim")
        async with Consumer(daemon, "events=message") as ws, HealthProbe(daemon) as health:

            async def good_delivers(label: str) -> None:
                mid = await sim_http.deliver(PHONE_GOOD, CONTACT, label)
                await wait_for(lambda: mid in ws.received_at, 30, what=f"good's {label}")

            # 1. Without the secret: refused at the handshake, before a frame is read.
            assert daemon.proc is not None
            rss_before = psutil.Process(daemon.proc.pid).memory_info().rss
            strangers = [Rogue(daemon, f"victim.rogue{i}") for i in range(10)]
            strangers.append(Rogue(daemon, "victim.rogue", secret="wrong"))
            hello = F.Hello(
                client="victim", boot="rogue", pid=victim["pid"], state="connected", secret="x"
            )
            for rogue in strangers:
                rogue.try_send_all([F.encode(hello), *[costly] * 20])
            strangers[-1].try_send_all(frames)
            await good_delivers("during the unauthenticated flood")
            log = daemon.home / "logs" / "wamc.log"
            await wait_for(
                lambda: "connection refused" in log.read_text(errors="replace"),
                30,
                what="the refusal logged",
            )
            rss = psutil.Process(daemon.proc.pid).memory_info().rss
            assert rss - rss_before < 64 * 2**20, (rss - rss_before) / 2**20
            assert all(not rogue.received for rogue in strangers)
            refused = await daemon.status("victim")
            assert refused["pid"] == victim["pid"] and refused["state"] == "connected"
            assert refused["bad_frames"] == 0 and refused["dead_events"] == 0, refused
            for rogue in strangers:
                await rogue.close()
            # 2. With the secret (it passes the hello): every later frame is still validated.
            rogue = Rogue(daemon, "victim.rogue-2", secret)
            hello = F.Hello(
                client="victim", boot="rogue-2", pid=victim["pid"], state="connected", secret=secret
            )
            await rogue.sock.send(F.encode(hello))
            await wait_for(
                lambda: any(isinstance(f, F.Welcome) for f in rogue.received), 15, what="welcome"
            )
            # Some events in order (so they reach validation), then the fuzz and huge maps.
            in_order = [
                msgpack.packb({"v": 1, "t": "event", "dn": dn, "name": "unread", "data": bad})
                for dn, bad in enumerate(
                    [{"chat_id": "1@c.us", "unread": "abc"}, {"chat_id": None}, {}], start=1
                )
            ]
            sending = asyncio.create_task(
                rogue.send_all(
                    [*in_order, *frames, *(huge_map(4 + i) for i in range(5)), *[costly] * 20]
                )
            )
            await good_delivers("during the authenticated flood")
            await sending
            dead = await wait_for(
                lambda: _dead_events(daemon, "victim", 3), 30, what="dead events recorded"
            )
            assert [d["dn"] for d in dead[-3:]] == [3, 2, 1], dead[-3:]
            assert "unread" in dead[-1]["reason"], dead[-1]
            flood_done = time.monotonic()
            windows = await daemon_idle_within(daemon, 15.0)
            assert windows[-1] < 10.0, f"daemon CPU % over 2 s windows: {windows}"
            await good_delivers("after the flood")
            idle_after = time.monotonic() - flood_done
            # A well-formed chunk and ack for a transfer nobody opened: dropped, each counted.
            before = (await daemon.status("victim"))["bad_frames"]
            stray = "ab" * 16
            await rogue.sock.send(F.encode(F.Chunk(transfer=stray, seq=0, data=b"x" * 1000)))
            await rogue.sock.send(F.encode(F.ChunkAck(transfer=stray, next=0)))
            await wait_for(
                lambda: _status_when(daemon, "victim", lambda s: s["bad_frames"] >= before + 2),
                15,
                what="the stray media frames counted",
            )
            assert (await daemon.status("victim"))["bad_frames"] == before + 2

            # 3. A frame over the cap: that worker is restarted.
            await rogue.sock.send(b"\x00" * (F.FRAME_CAP + 1024))
            restarted = await wait_for(
                lambda: _status_when(
                    daemon, "victim", lambda s: s["pid"] not in (None, victim["pid"])
                ),
                60,
                what="the victim's worker restarted",
            )
            assert restarted["restarts"] >= victim["restarts"] + 1
            await rogue.close()

            p95, worst = health.check()
            assert p95 < 0.1 and worst < 0.5, (p95, worst, len(health.latencies))
            await good_delivers("at the end")
        good = await daemon.status("good")
        assert good["state"] == "connected" and good["bad_frames"] == 0
        print(
            f"health p95 {p95 * 1000:.1f} ms max {worst * 1000:.1f} ms; idle after {idle_after:.1f} s"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim["pid"], signal.SIGCONT)


async def _status_when(daemon: Daemon, client: str, ok: Any) -> dict[str, Any] | None:
    status = await daemon.status(client)
    return status if ok(status) else None


async def _dead_events(daemon: Daemon, client: str, at_least: int) -> list[dict[str, Any]] | None:
    code, body = await daemon.call("GET", f"/api/clients/{client}/dead-events?limit=1000")
    assert code == 200, body
    return body["dead_events"] if len(body["dead_events"]) >= at_least else None
