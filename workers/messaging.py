"""Wire commands of the message actions (issue 11): locations, contacts, reactions, read state,
typing, edits, deletes, forwards and polls. Registered in workers/commands.py (``COMMANDS``); each calls its bridge
function (workers/bridge.js), which calls the wa-js API of the same purpose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wamc.wire import commands as C
from wamc.wire import events as W
from workers.page_calls import page_call

Args = dict[str, Any]
Handler = Callable[[Any, Args, float], Awaitable[Any]]
TYPING_STATES = {"typing": "composing", "recording": "recording", "paused": "paused"}


async def send_location(w: Any, args: Args, timeout: float) -> Any:
    place = {k: args.get(k) for k in ("latitude", "longitude", "name", "address", "url")}
    return await page_call(
        w.browser, "sendLocation", args["to"], place, args.get("reply_to"), timeout=timeout
    )


async def send_contact(w: Any, args: Args, timeout: float) -> Any:
    cards = [{"id": c["id"], "name": c.get("name")} for c in args["contacts"]]
    return await page_call(
        w.browser, "sendContacts", args["to"], cards, args.get("reply_to"), timeout=timeout
    )


async def react(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w.browser, "react", args["id"], args["emoji"], timeout=timeout)


async def mark_read(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w.browser, "markRead", args["chat"], timeout=timeout)


async def typing(w: Any, args: Args, timeout: float) -> Any:
    state = TYPING_STATES.get(args.get("state", ""))
    if state is None:
        raise C.RemoteError("invalid_field", f"unknown typing state {args.get('state')!r}")
    return await page_call(w.browser, "chatState", args["chat"], state, timeout=timeout)


async def edit_message(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w.browser, "editMessage", args["id"], args["text"], timeout=timeout)


async def delete_message(w: Any, args: Args, timeout: float) -> Any:
    """Delete; the daemon's history follows through the event emitted here (WhatsApp Web tells
    nobody about a delete made on this device): ``revoke`` for everyone, ``deleted`` for me."""
    done = await page_call(
        w.browser, "deleteMessage", args["id"], args.get("for", "auto"), timeout=timeout
    )
    if done.get("deleted_for") == "everyone":
        me = w.me
        w.emit(
            W.REVOKE,
            {
                "id": done["id"],
                "chat_id": done.get("chat_id"),
                "from_me": True,
                "from": me,
                "revoked_by": me,
                "type": "revoke",
            },
        )
    elif done.get("deleted_for") == "me":
        w.emit(W.DELETED, {"id": done["id"], "chat_id": done.get("chat_id")})
    return {"id": done["id"], "deleted_for": done.get("deleted_for")}


async def forward_message(w: Any, args: Args, timeout: float) -> Any:
    """wa-js ``forwardMessages``: the copy's id and ack (the bridge finds the new message)."""
    return await page_call(w.browser, "forward", args["id"], args["to"], timeout=timeout)


async def send_poll(w: Any, args: Args, timeout: float) -> Any:
    poll = {k: args.get(k) for k in ("name", "options", "selectable_count")}
    return await page_call(
        w.browser, "sendPoll", args["to"], poll, args.get("reply_to"), timeout=timeout
    )


COMMANDS: dict[str, Handler] = {
    C.SEND_LOCATION: send_location,
    C.SEND_CONTACT: send_contact,
    C.REACT: react,
    C.MARK_READ: mark_read,
    C.TYPING: typing,
    C.EDIT_MESSAGE: edit_message,
    C.DELETE_MESSAGE: delete_message,
    C.FORWARD_MESSAGE: forward_message,
    C.SEND_POLL: send_poll,
}
