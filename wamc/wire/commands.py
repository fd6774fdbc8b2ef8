"""Commands the daemon sends a worker (``req`` frames) and the error codes a reply may carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

SEND_TEXT = "send_text"  # {to, text}
CHATS = "chats"  # {count}
LOGOUT = "logout"
STOP = "stop"
PAIRING_CODE = "pairing_code"  # {phone}


class Sent(msgspec.Struct, frozen=True):
    """The result of ``send_text``."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    ack: Annotated[int, msgspec.Meta(ge=-1, le=10)] = 0


class PairingCode(msgspec.Struct, frozen=True):
    """The result of ``pairing_code``."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


# The result of ``chats``: the page's chats as plain objects (checked by the bridge).
ChatList = Annotated[list[dict[str, Any]], msgspec.Meta(max_length=1000)]

# Reply error codes the gateway passes through as they are; any other becomes whatsapp_error.
PASSTHROUGH_ERRORS = frozenset({"not_connected", "no_qr", "worker_timeout", "worker_unavailable"})


@dataclass(frozen=True)
class RemoteError(Exception):
    """A command that failed in (or on the way to) the worker."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
