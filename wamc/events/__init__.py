"""Events: the public catalog, the bus that logs and fans them out, event log retention."""

from wamc.events.bus import EventBus, Subscriber
from wamc.events.catalog import (
    CALL,
    CHAT_UNREAD,
    CLIENT_DELETED,
    CLIENT_QR,
    CLIENT_STATE,
    DAEMON_STARTED,
    EVENT_NAMES,
    EVENTS,
    MESSAGE,
    MESSAGE_ACK,
    MESSAGE_EDITED,
    MESSAGE_REACTION,
    MESSAGE_REVOKED,
    PRESENCE,
    EventSpec,
)
from wamc.events.retention import retention_loop

__all__ = [
    "CALL",
    "CHAT_UNREAD",
    "CLIENT_DELETED",
    "CLIENT_QR",
    "CLIENT_STATE",
    "DAEMON_STARTED",
    "EVENTS",
    "EVENT_NAMES",
    "MESSAGE",
    "MESSAGE_ACK",
    "MESSAGE_EDITED",
    "MESSAGE_REACTION",
    "MESSAGE_REVOKED",
    "PRESENCE",
    "EventBus",
    "EventSpec",
    "Subscriber",
    "retention_loop",
]
