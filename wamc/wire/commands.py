"""Commands the daemon sends a worker (``req`` frames) and the error codes a reply may carry."""

from __future__ import annotations

from dataclasses import dataclass

STATUS = "status"
QR = "qr"
SEND_TEXT = "send_text"  # {to, text}
CHATS = "chats"  # {count}
MESSAGES = "messages"  # {chat_id, count, before}
LOGOUT = "logout"
STOP = "stop"
PAIRING_CODE = "pairing_code"  # {phone}

# Reply error codes the gateway passes through as they are; any other becomes whatsapp_error.
PASSTHROUGH_ERRORS = frozenset({"not_connected", "no_qr", "worker_timeout", "worker_unavailable"})


@dataclass(frozen=True)
class RemoteError(Exception):
    """A command that failed in (or on the way to) the worker."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
