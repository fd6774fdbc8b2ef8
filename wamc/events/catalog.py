"""The public events: their names, the wa-js events (``WPP.on(...)``) they come from and the
shape of their ``data``. This is the one place where they are documented.

One event model for the WebSocket, webhooks and anything else::

    {"id": "<32 hex, globally unique>", "seq": <per client, contiguous from 1>,
     "client": "<client id>" | null, "event": "<name>", "timestamp": "<ISO 8601 UTC>",
     "data": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass

CLIENT_STATE = "client.state"
CLIENT_QR = "client.qr"
CLIENT_DELETED = "client.deleted"
MESSAGE = "message"
MESSAGE_ACK = "message.ack"
MESSAGE_REVOKED = "message.revoked"
MESSAGE_EDITED = "message.edited"
MESSAGE_REACTION = "message.reaction"
CHAT_UNREAD = "chat.unread"
PRESENCE = "presence"
CALL = "call"
DAEMON_STARTED = "daemon.started"


@dataclass(frozen=True)
class EventSpec:
    name: str
    source: str  # the wa-js event (WPP.on name) or the daemon's own
    data: str  # the shape of ``data``


EVENTS: dict[str, EventSpec] = {
    s.name: s
    for s in (
        EventSpec(
            CLIENT_STATE,
            "conn.* (authenticated, main_ready, logout, stream_mode_changed …) + supervision",
            "{state, previous, reason, me}",
        ),
        EventSpec(CLIENT_QR, "conn.auth_code_change", "{qr}: the QR payload (fullCode)"),
        EventSpec(CLIENT_DELETED, "daemon (DELETE /api/clients/{id})", "{}"),
        EventSpec(
            MESSAGE,
            "chat.new_message (and messages found by backfill after a reconnect)",
            "{id, chat_id, from_me, from, to, body, type, timestamp, ack, backfill}",
        ),
        EventSpec(MESSAGE_ACK, "chat.msg_ack_change", "{ids, ack, chat_id}"),
        EventSpec(
            MESSAGE_REVOKED,
            "chat.msg_revoke",
            "{id, chat_id, from_me, from, revoked_by, type}: id of the revoked message",
        ),
        EventSpec(
            MESSAGE_EDITED, "chat.msg_edited", "{id, chat_id, from_me, from, body, edited_at}"
        ),
        EventSpec(
            MESSAGE_REACTION,
            "chat.new_reaction",
            "{id, chat_id, sender, reaction ('' = removed), reaction_id, timestamp}",
        ),
        EventSpec(CHAT_UNREAD, "chat.unread_count_changed", "{chat_id, unread}"),
        EventSpec(
            PRESENCE,
            "chat.presence_change",
            "{chat_id, id, state, is_online, is_group, participants?}",
        ),
        EventSpec(CALL, "call.incoming_call", "{id, from, is_video, is_group, timestamp}"),
        EventSpec(DAEMON_STARTED, "daemon (client is null)", "{version, pid}"),
    )
}
EVENT_NAMES = frozenset(EVENTS)
