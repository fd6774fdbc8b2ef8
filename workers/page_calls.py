"""Calls into the page whose refusals are domain answers, not WhatsApp failures.

The bridge (workers/bridge.js) refuses with an error whose message starts ``wamc:<code>:``
(``refuse`` there) when WhatsApp Web says what went wrong in a way the API answers with its own
code: the recipient is not on WhatsApp, the message or chat is unknown, the message is not ours,
the edit window has passed. Every send and message action calls the page through ``page_call``,
so those codes reach the daemon as they are (wamc/wire/commands.py PASSTHROUGH_ERRORS).
"""

from __future__ import annotations

import re
from typing import Any

from wamc.wire import commands as C
from workers.browser import Browser

REFUSALS = frozenset(
    {"not_on_whatsapp", "message_not_found", "chat_not_found", "not_own_message"}
    | {"edit_window_passed"}
)
REFUSAL = re.compile(r"wamc:([a-z_]{1,40}): ?([^\n]{0,300})")


async def page_call(browser: Browser, fn: str, *args: Any, timeout: float) -> Any:
    """``browser.call`` with the bridge's refusals turned into ``RemoteError`` codes."""
    try:
        return await browser.call(fn, *args, timeout=timeout)
    except C.RemoteError:
        raise
    except Exception as exc:
        refusal = refusal_of(str(exc))
        if refusal is None:
            raise
        raise C.RemoteError(*refusal) from None


def refusal_of(text: str) -> tuple[str, str] | None:
    """(code, message) of a bridge refusal inside an error text; None for anything else."""
    found = REFUSAL.search(text)
    if found is None or found.group(1) not in REFUSALS:
        return None
    return found.group(1), found.group(2).strip() or found.group(1)
