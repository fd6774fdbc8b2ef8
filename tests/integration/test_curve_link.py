"""The daemon⇄worker link over TCP (issue 14, item 2): CurveZMQ-encrypted and authenticated.

The worker dials a relay in this test (``WAMC_ZMQ_ADVERTISE``) that forwards to the daemon's
TCP endpoint and keeps every byte both ways: a message sent and one received cross it, and
neither text is in the bytes. A peer with a key of its own, or trying PLAIN, is refused at the
handshake; the real client is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import zmq
import zmq.asyncio

from tests.support import Daemon, free_port, wait_for

PHONE = "5511900000771"
CONTACT = "5511955550771"


class Relay:
    """A TCP forwarder on loopback that records what passes."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.seen = bytearray()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    self.seen += data
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def relayed(make_daemon: Any) -> AsyncIterator[tuple[Daemon, Relay, int]]:
    port = free_port()
    relay = Relay(port)
    await relay.start()
    daemon = await make_daemon(
        {
            "WAMC_ZMQ_ENDPOINT": f"tcp://127.0.0.1:{port}",
            "WAMC_ZMQ_ADVERTISE": f"tcp://127.0.0.1:{relay.port}",
        }
    )
    try:
        yield daemon, relay, port
    finally:
        await relay.close()


async def test_the_tcp_link_is_encrypted_and_strangers_are_refused(
    relayed: tuple[Daemon, Relay, int], sim_http: Any
) -> None:
    daemon, relay, port = relayed
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    out_text, in_text = f"out-{secrets.token_hex(8)}", f"in-{secrets.token_hex(8)}"
    code, sent = await daemon.call(
        "POST", "/api/clients/acme/send-message", json={"to": CONTACT, "text": out_text}
    )
    assert code == 201, sent
    await sim_http.deliver(PHONE, CONTACT, in_text)

    async def stored() -> bool:
        c, body = await daemon.call("GET", "/api/clients/acme/messages/recent?limit=20")
        bodies = {m["body"] for m in body.get("messages", [])} if c == 200 else set()
        return {out_text, in_text} <= bodies

    await wait_for(stored, 60, what="both messages through the relayed link")
    seen = bytes(relay.seen)
    assert len(seen) > 1000 and b"CURVE" in seen  # the link went through the relay, in Curve
    for text in (out_text, in_text, "acme"):
        assert text.encode() not in seen, f"{text!r} crossed the wire in clear"

    # Strangers: a Curve key of their own (the server key is public), or PLAIN.
    before = (await daemon.status("acme"))["pid"]
    server_key = (daemon.home / "sessions" / ".wamc" / "curve-server.key").read_bytes().split()[0]
    ctx = zmq.asyncio.Context()
    try:
        stranger = ctx.socket(zmq.DEALER)
        public, private = zmq.curve_keypair()
        stranger.setsockopt(zmq.CURVE_SERVERKEY, server_key)
        stranger.setsockopt(zmq.CURVE_PUBLICKEY, public)
        stranger.setsockopt(zmq.CURVE_SECRETKEY, private)
        plain = ctx.socket(zmq.DEALER)  # another mechanism: the handshake itself fails
        plain.setsockopt(zmq.PLAIN_USERNAME, b"acme.x")
        plain.setsockopt(zmq.PLAIN_PASSWORD, b"guess")
        for sock in (stranger, plain):
            sock.setsockopt(zmq.IDENTITY, b"acme.rogue")
            sock.connect(f"tcp://127.0.0.1:{port}")
            await sock.send(b"\x81\xa1t\xa3who")  # anything: it must never be read
        log = daemon.home / "logs" / "wamc.log"
        await wait_for(
            lambda: "connection refused" in log.read_text(errors="replace"),
            30,
            what="the stranger's key refused at the handshake",
        )
        for sock in (stranger, plain):
            assert await sock.poll(1000) == 0  # nothing ever comes back
    finally:
        ctx.destroy(linger=0)
    after = await daemon.status("acme")
    assert after["pid"] == before and after["state"] == "connected" and after["bad_frames"] == 0
