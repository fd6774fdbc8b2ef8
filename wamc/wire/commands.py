"""Commands the daemon sends a worker (``req`` frames) and the error codes a reply may carry."""

from __future__ import annotations

import re
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


# --- media (issue 11) -------------------------------------------------------------------------
# The bytes never cross the socket: the daemon and the worker of a client share its folder
# (one user, 0700). A file is named by a random token, never by a path, in MEDIA_TMP under the
# client's folder: the daemon writes an upload there for ``send_media`` and the worker writes a
# download there for ``download_media``; each side checks what it reads (regular file, no link).
SEND_MEDIA = "send_media"  # {to, token, mimetype, filename, caption, kind, reply_to}
DOWNLOAD_MEDIA = "download_media"  # {id, token, max_bytes}
MEDIA_TMP = ("media", "tmp")  # the folder of the files, under the client's folder
MEDIA_TOKEN = re.compile(r"^[0-9a-f]{32}$")
MEDIA_ERRORS = frozenset({"media_gone", "message_not_found", "not_on_whatsapp"})
PASSTHROUGH_ERRORS = PASSTHROUGH_ERRORS | MEDIA_ERRORS


class SentMedia(msgspec.Struct, frozen=True):
    """The result of ``send_media``: the message and its WhatsApp type (``ptt`` for voice)."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    ack: Annotated[int, msgspec.Meta(ge=-1, le=10)] = 0
    type: Annotated[str, msgspec.Meta(max_length=32)] = ""


class Downloaded(msgspec.Struct, frozen=True):
    """The result of ``download_media``: the file's size and the type the page gave it."""

    size: Annotated[int, msgspec.Meta(ge=0, le=2**40)]
    mimetype: Annotated[str, msgspec.Meta(max_length=255)] = ""
