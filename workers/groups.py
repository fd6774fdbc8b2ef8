"""Contacts, numbers and groups commands (issue 11): one function each, run against the page.

The bridge (workers/bridge.js, ``people``) refuses with an error whose message starts
``wamc:<code>:`` when WhatsApp Web says what went wrong in a way the API has a code for (unknown
chat or contact, not a group admin, nobody on WhatsApp); ``page_call`` turns it into that code,
which the daemon passes through (wamc/wire/commands.py ``GROUP_REFUSALS``). Registered in
workers/commands.py; all need a linked session.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from wamc.wire import commands as C

REFUSAL = re.compile(r"wamc:([a-z_]{1,40}): ?([^\n]{0,300})")
Args = dict[str, Any]


async def page_call(w: Any, fn: str, *args: Any, timeout: float) -> Any:
    """``browser.call`` with the bridge's refusals turned into ``RemoteError`` codes."""
    try:
        return await w.browser.call(fn, *args, timeout=timeout)
    except C.RemoteError:
        raise
    except Exception as exc:
        found = REFUSAL.search(str(exc))
        if found is None or found.group(1) not in C.GROUP_REFUSALS:
            raise
        raise C.RemoteError(found.group(1), found.group(2).strip() or found.group(1)) from None


async def contacts(w: Any, args: Args, timeout: float) -> Any:
    count = int(args.get("count", 1000))
    return await page_call(
        w, "contacts", count, bool(args.get("only_my_contacts")), timeout=timeout
    )


async def contact(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w, "contact", str(args["id"]), timeout=timeout)


async def number_exists(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w, "numberExists", str(args["id"]), timeout=timeout)


async def block_contact(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w, "block", str(args["id"]), bool(args["blocked"]), timeout=timeout)


async def groups(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w, "groups", timeout=timeout)


async def group_create(w: Any, args: Args, timeout: float) -> Any:
    people = [str(p) for p in args["participants"]]
    return await page_call(w, "groupCreate", str(args["name"]), people, timeout=timeout)


async def group_info(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w, "groupInfo", str(args["id"]), timeout=timeout)


async def group_participants(w: Any, args: Args, timeout: float) -> Any:
    todo = {k: [str(p) for p in args.get(k) or []] for k in ("add", "remove", "promote", "demote")}
    return await page_call(w, "groupParticipants", str(args["id"]), todo, timeout=timeout)


async def group_leave(w: Any, args: Args, timeout: float) -> Any:
    return await page_call(w, "groupLeave", str(args["id"]), timeout=timeout)


async def group_invite(w: Any, args: Args, timeout: float) -> Any:
    revoke = bool(args.get("revoke"))
    return await page_call(w, "groupInvite", str(args["id"]), revoke, timeout=timeout)


COMMANDS: dict[str, Callable[[Any, Args, float], Awaitable[Any]]] = {
    C.CONTACTS: contacts,
    C.CONTACT: contact,
    C.NUMBER_EXISTS: number_exists,
    C.BLOCK_CONTACT: block_contact,
    C.GROUPS: groups,
    C.GROUP_CREATE: group_create,
    C.GROUP_INFO: group_info,
    C.GROUP_PARTICIPANTS: group_participants,
    C.GROUP_LEAVE: group_leave,
    C.GROUP_INVITE: group_invite,
}
