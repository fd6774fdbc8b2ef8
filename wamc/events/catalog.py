"""The public events: their names, the wa-js events (``WPP.on(...)``) they come from and the
shape of their ``data``. Those a worker reports are defined in the one event vocabulary,
wamc/wire/events.py; the daemon's own are defined here.

One event model for the WebSocket, webhooks and anything else::

    {"id": "<32 hex, globally unique>", "seq": <per client, contiguous from 1>,
     "client": "<client id>" | null, "event": "<name>", "timestamp": "<ISO 8601 UTC>",
     "data": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass

from wamc.wire import events as W

# The events a worker's report becomes: named in the one vocabulary (wamc/wire/events.py).
CLIENT_STATE = W.public_name(W.STATE)
CLIENT_QR = W.public_name(W.QR)
MESSAGE = W.public_name(W.MESSAGE)
MESSAGE_ACK = W.public_name(W.ACK)
MESSAGE_REVOKED = W.public_name(W.REVOKE)
MESSAGE_EDITED = W.public_name(W.EDIT)
MESSAGE_REACTION = W.public_name(W.REACTION)
CHAT_UNREAD = W.public_name(W.UNREAD)
PRESENCE = W.public_name(W.PRESENCE)
CALL = W.public_name(W.CALL)
# The daemon's own events.
CLIENT_DELETED = "client.deleted"
DAEMON_STARTED = "daemon.started"


@dataclass(frozen=True)
class EventSpec:
    name: str
    source: str  # the wa-js event (WPP.on name) or the daemon's own
    data: str  # the shape of ``data``


def _group(spec: EventSpec) -> int:
    """The documented order: the client's events, then WhatsApp's, then the daemon's."""
    return 0 if spec.name.startswith("client.") else 2 if spec.name.startswith("daemon.") else 1


_SPECS = (
    *(EventSpec(e.public, e.source, e.data) for e in W.VOCABULARY if e.public is not None),
    EventSpec(CLIENT_DELETED, "daemon (DELETE /api/clients/{id})", "{}"),
    EventSpec(DAEMON_STARTED, "daemon (client is null)", "{version, pid}"),
)
EVENTS: dict[str, EventSpec] = {s.name: s for s in sorted(_SPECS, key=_group)}
EVENT_NAMES = frozenset(EVENTS)
