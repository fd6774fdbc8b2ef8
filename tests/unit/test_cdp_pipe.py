"""workers/cdp.py over a real pipe pair, with this test playing Chromium: what the browser sends
is untrusted, and nothing it sends may end the connection but the end of the pipe."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from workers.cdp import CdpError, Connection


class FakeBrowser:
    """The far ends of the two pipes: reads our commands, writes what a browser would."""

    def __init__(self) -> None:
        cmd_read, self.cmd_write = os.pipe()
        self.out_read, out_write = os.pipe()
        self.conn = Connection(self.out_read, self.cmd_write, max_message=4096)
        self.commands = os.fdopen(cmd_read, "rb", buffering=0)
        self.out = out_write

    def write(self, data: bytes) -> None:
        os.write(self.out, data)

    def command(self) -> dict[str, Any]:
        raw = b""
        while not raw.endswith(b"\0"):
            raw += self.commands.read(1)
        message: dict[str, Any] = json.loads(raw[:-1])
        return message

    def close(self) -> None:
        os.close(self.out)
        self.commands.close()


async def test_garbage_and_an_oversized_message_are_dropped_and_the_pipe_goes_on() -> None:
    b = FakeBrowser()
    events: list[dict[str, Any]] = []
    b.conn.on("Page.x", events.append)
    b.conn.on("Page.x", lambda _p: 1 / 0)  # a listener's bug ends nothing
    answer = asyncio.ensure_future(b.conn.send("Browser.getVersion"))
    ident = (await asyncio.to_thread(b.command))["id"]
    b.write(b"not json\0[1,2]\0" + b'{"method":"Page.x","params":{"huge":"' + b"x" * 9000)
    b.write(b'"}}\0{"method":"Page.x","params":{"n":1}}\0')
    b.write(json.dumps({"id": ident, "result": {"product": "fake"}}).encode() + b"\0")
    assert await asyncio.wait_for(answer, 5) == {"product": "fake"}
    assert events == [{"n": 1}]  # the huge one skipped to its end, the next one whole
    assert not b.conn.closed.is_set()
    b.close()
    await asyncio.wait_for(b.conn.closed.wait(), 5)


async def test_a_refusal_and_the_pipe_s_end_fail_their_commands() -> None:
    b = FakeBrowser()
    refused = asyncio.ensure_future(b.conn.send("Page.navigate", {"url": "x"}))
    ident = (await asyncio.to_thread(b.command))["id"]
    b.write(json.dumps({"id": ident, "error": {"message": "Invalid URL"}}).encode() + b"\0")
    with pytest.raises(CdpError, match="Invalid URL"):
        await asyncio.wait_for(refused, 5)
    pending = asyncio.ensure_future(b.conn.send("Browser.close"))
    await asyncio.to_thread(b.command)
    b.close()
    with pytest.raises(CdpError, match="closed"):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(CdpError, match="closed"):
        await b.conn.send("Browser.getVersion")
