"""Commands the daemon sends a worker (``req`` frames) and the error codes a reply may carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

SEND_TEXT = "send_text"  # {to, text, reply_to?}
CHATS = "chats"  # {count}
LOGOUT = "logout"
STOP = "stop"
PAIRING_CODE = "pairing_code"  # {phone}
# Messaging breadth (issue 11): answered with ``Sent`` (sends) or ``Done``.
SEND_LOCATION = "send_location"  # {to, latitude, longitude, name?, address?, url?, reply_to?}
SEND_CONTACT = "send_contact"  # {to, contacts: [{id, name?}], reply_to?}
REACT = "react"  # {id, emoji}: '' removes the reaction
MARK_READ = "mark_read"  # {chat}
TYPING = "typing"  # {chat, state: typing|recording|paused}
EDIT_MESSAGE = "edit_message"  # {id, text}
DELETE_MESSAGE = "delete_message"  # {id, for: everyone|me|auto}


class Sent(msgspec.Struct, frozen=True):
    """The result of ``send_text``."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    ack: Annotated[int, msgspec.Meta(ge=-1, le=10)] = 0


class Done(msgspec.Struct, frozen=True):
    """The result of an action on a message or chat (react, mark_read, typing, edit, delete)."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    # delete_message: how it was deleted ('everyone' or 'me'); else None
    deleted_for: Annotated[str, msgspec.Meta(max_length=16)] | None = None


class PairingCode(msgspec.Struct, frozen=True):
    """The result of ``pairing_code``."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


# The result of ``chats``: the page's chats as plain objects (checked by the bridge).
ChatList = Annotated[list[dict[str, Any]], msgspec.Meta(max_length=1000)]

# Reply error codes the gateway passes through as they are; any other becomes whatsapp_error.
PASSTHROUGH_ERRORS = frozenset(
    {"not_connected", "no_qr", "worker_timeout", "worker_unavailable"}
    | {"not_on_whatsapp", "message_not_found", "chat_not_found", "not_own_message"}
    | {"edit_window_passed"}
)


@dataclass(frozen=True)
class RemoteError(Exception):
    """A command that failed in (or on the way to) the worker."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
