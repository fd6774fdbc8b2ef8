"""The Chrome DevTools Protocol over ``--remote-debugging-pipe``: the worker drives its Chromium
itself, without Playwright's Node driver (≈ 60 MB and a process per client; issue 13).

Chromium reads commands on its fd 3 and writes answers and events on its fd 4, each one JSON
object ended by a NUL byte. The pipe is private to the worker (no port another local user could
open), and Chromium closes itself when the pipe does: a worker that dies takes its browser with it
after a clean shutdown that flushes the profile. What Chromium sends is parsed defensively: a
message that is not a JSON object is dropped, a huge one ends the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from collections.abc import Callable
from typing import Any

from loguru import logger

Listener = Callable[[dict[str, Any]], None]
MAX_MESSAGE = 64 << 20  # bytes; a longer message (a page can make console output huge) is skipped
READ_CHUNK = 1 << 16


class CdpError(RuntimeError):
    """A command Chromium refused, or a connection that ended before its answer."""


class Connection:
    """One pipe to one browser: commands by id, events by (session, method)."""

    def __init__(self, read_fd: int, write_fd: int, max_message: int = MAX_MESSAGE) -> None:
        self._max_message = max_message
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[tuple[str, str], list[Listener]] = {}
        self._buffer = bytearray()
        self._skipping = False  # inside an oversized message: drop bytes up to its NUL
        self._out = bytearray()
        self.closed = asyncio.Event()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(read_fd, self._readable)

    def on(self, method: str, listener: Listener, session: str = "") -> None:
        self._listeners.setdefault((session, method), []).append(listener)

    def off_session(self, session: str) -> None:
        for key in [k for k in self._listeners if k[0] == session]:
            del self._listeners[key]

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        """Send one command and wait for its answer (its ``result``)."""
        if self.closed.is_set():
            raise CdpError(f"{method}: the browser connection is closed")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[self._next_id] = future
        self._write(json.dumps(message, separators=(",", ":")).encode() + b"\0")
        try:
            return await future
        finally:
            self._pending.pop(message["id"], None)

    def _write(self, data: bytes) -> None:
        if self._out:
            self._out += data
            return
        try:
            sent = os.write(self._write_fd, data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._close(f"write failed: {exc}")
            return
        if sent < len(data):
            self._out += data[sent:]
            self._loop.add_writer(self._write_fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = os.write(self._write_fd, self._out)
        except BlockingIOError:
            return
        except OSError as exc:
            self._close(f"write failed: {exc}")
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._write_fd)

    def _readable(self) -> None:
        try:
            chunk = os.read(self._read_fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._close(f"read failed: {exc}")
            return
        if not chunk:
            self._close("the browser closed the pipe")
            return
        start = len(self._buffer)
        self._buffer += chunk
        end = self._buffer.find(b"\0", start)
        while end >= 0:
            if self._skipping:
                self._skipping = False
            elif end > self._max_message:
                self._oversized()
            else:
                self._dispatch(bytes(self._buffer[:end]))
            del self._buffer[: end + 1]
            end = self._buffer.find(b"\0")
        if len(self._buffer) > self._max_message:
            if not self._skipping:
                self._oversized()
            self._skipping = True  # the rest of it, up to its NUL
            self._buffer.clear()

    def _oversized(self) -> None:
        """Never the end of the pipe (the page would choose when its browser dies): the message
        is dropped; a command it answered ends in that command's own timeout."""
        logger.warning("a message from the browser passed {} bytes: dropped", self._max_message)

    def _dispatch(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except Exception:  # not JSON, too deep, too big for memory: dropped, the pipe goes on
            logger.warning("browser sent a message that is not JSON: dropped")
            return
        if not isinstance(message, dict):
            return
        ident = message.get("id")
        if ident is not None:
            future = self._pending.get(ident) if isinstance(ident, int) else None
            if future is None or future.done():
                return
            error = message.get("error")
            if isinstance(error, dict):
                future.set_exception(CdpError(str(error.get("message", error))[:2000]))
            else:
                result = message.get("result")
                future.set_result(result if isinstance(result, dict) else {})
            return
        method, params = message.get("method"), message.get("params")
        if not isinstance(method, str) or not isinstance(params, dict):
            return
        session = message.get("sessionId") or ""
        for listener in list(self._listeners.get((session, method), ())):
            try:
                listener(params)
            except Exception:  # one listener's bug must not end the pipe
                logger.exception("browser event {} handler failed", method)

    def _close(self, why: str) -> None:
        if self.closed.is_set():
            return
        logger.debug("browser connection closed: {}", why)
        self.closed.set()
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._read_fd)
            self._loop.remove_writer(self._write_fd)
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError(f"the browser connection closed ({why})"))

    def close(self) -> None:
        self._close("closed by the worker")


def child_pipes() -> tuple[tuple[int, int], tuple[int, int], Callable[[], None]]:
    """Two pipes and the pre-exec step that puts their browser ends on fds 3 and 4.

    Returns ((our read fd, our write fd), (browser's read fd, browser's write fd), preexec)."""
    cmd_read, cmd_write = os.pipe()  # we write commands, Chromium reads them on fd 3
    out_read, out_write = os.pipe()  # Chromium writes on fd 4, we read
    for fd in (cmd_write, out_read):
        os.set_inheritable(fd, False)

    def place() -> None:  # in the child, before exec: only dup2, no locks taken
        high_in = fcntl.fcntl(cmd_read, fcntl.F_DUPFD, 10)
        high_out = fcntl.fcntl(out_write, fcntl.F_DUPFD, 10)
        os.dup2(high_in, 3)
        os.dup2(high_out, 4)

    return (out_read, cmd_write), (cmd_read, out_write), place
