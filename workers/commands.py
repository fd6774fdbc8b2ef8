"""Wire commands (wamc/wire/commands.py), one function each, run against the worker's page.

Adding a command: its name (and argument/result types) in ``wamc/wire/commands.py``, one function
here, one line in ``COMMANDS``; the daemon side calls it through ``wamc/daemon/control.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from wamc.states import ClientState
from wamc.wire import commands as C
from wamc.wire import frames as F
from workers import groups, messaging
from workers.browser import Browser
from workers.link import DaemonLink
from workers.media import download_media, send_media
from workers.page_calls import page_call


class Worker(Protocol):
    """What commands see of the worker (workers/runtime.py)."""

    state: ClientState
    me: str | None
    qr: str | None
    browser: Browser
    link: DaemonLink
    stopping: asyncio.Event
    log: Any


Args = dict[str, Any]
Handler = Callable[["Worker", Args, float], Awaitable[Any]]


async def pairing_code(w: Worker, args: Args, timeout: float) -> Any:
    if w.state != ClientState.QR:
        raise C.RemoteError("no_qr", f"client is {w.state}: pairing needs the QR screen")
    code = await w.browser.call("pairingCode", args["phone"], timeout=timeout)
    return {"code": code}


async def stop(w: Worker, args: Args, timeout: float) -> Any:
    w.stopping.set()
    return {"stopping": True}


async def send_text(w: Worker, args: Args, timeout: float) -> Any:
    reply_to, mentions = args.get("reply_to"), args.get("mentions") or None
    return await page_call(
        w.browser, "sendText", args["to"], args["text"], reply_to, mentions, timeout=timeout
    )


async def chats(w: Worker, args: Args, timeout: float) -> Any:
    return await w.browser.call("chats", int(args.get("count", 100)), timeout=timeout)


async def logout(w: Worker, args: Args, timeout: float) -> Any:
    try:
        await w.browser.call("logout", timeout=timeout)
    except Exception as exc:
        # WhatsApp Web reloads the page while logging out: the call's page goes away.
        if not page_went_away(exc):
            raise
    return {"logged_out": True}


COMMANDS: dict[str, Handler] = {
    C.PAIRING_CODE: pairing_code,
    C.STOP: stop,
    C.SEND_TEXT: send_text,
    C.CHATS: chats,
    C.LOGOUT: logout,
    **messaging.COMMANDS,  # replies, reactions, read, typing, edits, deletes, other kinds
    C.SEND_MEDIA: send_media,
    C.DOWNLOAD_MEDIA: download_media,
}
# Commands that need a linked session.
NEED_CONNECTED = frozenset(
    {C.SEND_TEXT, C.CHATS, C.LOGOUT, C.SEND_MEDIA, C.DOWNLOAD_MEDIA, *messaging.COMMANDS}
)
# Contacts, numbers and groups (workers/groups.py): all need a linked session.
COMMANDS.update(groups.COMMANDS)
NEED_CONNECTED = NEED_CONNECTED | groups.COMMANDS.keys()


async def execute(w: Worker, cmd: Any, args: Args, timeout: float) -> Any:
    handler = COMMANDS.get(cmd) if isinstance(cmd, str) else None
    if handler is None:
        raise C.RemoteError("unknown_command", f"unknown command {cmd!r}")
    if cmd in NEED_CONNECTED and w.state != ClientState.CONNECTED:
        raise C.RemoteError("not_connected", f"client is {w.state}, not connected")
    return await handler(w, args, timeout)


async def handle_request(w: Worker, msg: F.Request) -> None:
    """Run one request and answer it; never raises (a failure is the reply)."""
    req_id, cmd, timeout = msg.id, msg.cmd, msg.timeout
    try:
        result = await asyncio.wait_for(execute(w, cmd, msg.args, timeout), timeout)
    except TimeoutError:
        w.link.reply_error(req_id, "worker_timeout", f"{cmd} took over {timeout:.0f}s")
    except C.RemoteError as exc:
        w.link.reply_error(req_id, exc.code, exc.message)
    except Exception as exc:
        w.log.warning("{} failed: {}", cmd, exc)
        w.link.reply_error(req_id, "whatsapp_error", first_line(str(exc)))
    else:
        w.link.reply_ok(req_id, result)


def page_went_away(exc: BaseException) -> bool:
    text = str(exc)
    return any(
        sign in text
        for sign in (
            "Execution context was destroyed",
            "Target page, context or browser has been closed",
            "navigation",
        )
    )


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "error"
