"""A small HTTP proxy on loopback for tests: CONNECT tunnels and absolute-form forwards, optional
Basic authentication (407 until the right ``Proxy-Authorization`` comes), counted."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from urllib.parse import urlsplit

HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Copy both ways until either side ends, then close both."""
    tasks = [asyncio.ensure_future(_pipe(a[0], b[1])), asyncio.ensure_future(_pipe(b[0], a[1]))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for w in (a[1], b[1]):
            with contextlib.suppress(Exception):
                w.close()


class CountingProxy:
    """``requests``: requests forwarded (a CONNECT counts once); ``challenged``: 407 answers;
    ``targets``: where each forwarded request went (``host:port``)."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.expected = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.expected = f"Basic {token}"
        self.requests = 0
        self.challenged = 0
        self.targets: list[str] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> CountingProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # a 407 keeps the connection for the authenticated retry
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = [tuple(x.split(":", 1)) for x in lines[1:] if ":" in x]
                fields = {k.strip().lower(): v.strip() for k, v in headers}
                if self.expected and fields.get("proxy-authorization") != self.expected:
                    self.challenged += 1
                    await reader.readexactly(int(fields.get("content-length", "0")))
                    writer.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                    )
                    await writer.drain()
                    continue
                if method == "CONNECT":
                    await self._tunnel(target, reader, writer)
                else:
                    await self._forward(method, target, headers, reader, writer)
                return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except ValueError:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, port = target.rsplit(":", 1)
        upstream = await asyncio.open_connection(host.strip("[]"), int(port))
        self.requests += 1
        self.targets.append(target)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _splice((reader, writer), upstream)

    async def _forward(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, ...]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            raise ValueError("absolute http:// URLs only")
        port = url.port or 80
        upstream = await asyncio.open_connection(url.hostname, port)
        self.requests += 1
        self.targets.append(f"{url.hostname}:{port}")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        kept = [f"{k}:{v}" for k, v in headers if k.strip().lower() not in HOP_BY_HOP]
        out = [f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""]
        upstream[1].write("\r\n".join(out).encode("latin-1"))
        await upstream[1].drain()
        await _splice((reader, writer), upstream)
