"""Commands the daemon sends a worker (``req`` frames) and the error codes a reply may carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

SEND_TEXT = "send_text"  # {to, text, reply_to?, mentions?: [user ids] (group chats)}
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
FORWARD_MESSAGE = "forward_message"  # {id, to}: answered with ``Sent`` (the forwarded copy)
SEND_POLL = "send_poll"  # {to, name, options: [str], selectable_count, reply_to?}: ``Sent``


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


# --- Contacts, numbers and groups (issue 11; workers/groups.py) --------------------------------
CONTACTS = "contacts"  # {count, only_my_contacts}
CONTACT = "contact"  # {id}: one contact with its profile picture URL
NUMBER_EXISTS = "number_exists"  # {id: '<digits>@c.us'}
BLOCK_CONTACT = "block_contact"  # {id, blocked: bool}
GROUPS = "groups"  # {}
GROUP_CREATE = "group_create"  # {name, participants: [ids]}
GROUP_INFO = "group_info"  # {id}
GROUP_PARTICIPANTS = "group_participants"  # {id, add, remove, promote, demote}
GROUP_LEAVE = "group_leave"  # {id}
GROUP_INVITE = "group_invite"  # {id, revoke: bool}
# What the page refuses in a way the API names (the bridge's `wamc:<code>:` errors).
GROUP_REFUSALS = frozenset(
    {"chat_not_found", "contact_not_found", "not_group_admin", "not_on_whatsapp"}
)
PASSTHROUGH_ERRORS = PASSTHROUGH_ERRORS | GROUP_REFUSALS

WaId = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
Name = Annotated[str, msgspec.Meta(max_length=1024)]
Url = Annotated[str, msgspec.Meta(max_length=4096)]
Code = Annotated[str, msgspec.Meta(max_length=64)]


class NumberCheck(msgspec.Struct, frozen=True):
    """The result of ``number_exists``: ``chat_id`` is the id WhatsApp knows the number by."""

    exists: bool
    chat_id: WaId | None = None
    is_business: bool = False


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    """A contact of ``contacts`` / ``contact`` (the last two only from ``contact``)."""

    id: WaId
    name: Name | None = None  # as saved in the phone's address book
    push_name: Name | None = None  # as the contact names itself
    is_business: bool = False
    is_my_contact: bool = False
    profile_picture_url: Url | None = None
    is_blocked: bool | None = None


ContactList = Annotated[list[Contact], msgspec.Meta(max_length=5000)]


class Blocked(msgspec.Struct, frozen=True):
    """The result of ``block_contact``."""

    id: WaId
    blocked: bool


class GroupSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: WaId
    subject: Name | None = None
    size: Annotated[int, msgspec.Meta(ge=0)] = 0
    i_am_admin: bool = False


GroupList = Annotated[list[GroupSummary], msgspec.Meta(max_length=5000)]


class GroupMember(msgspec.Struct, frozen=True, kw_only=True):
    id: WaId
    is_admin: bool = False
    is_super_admin: bool = False


class GroupInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The result of ``group_info``; ``created_at`` in unix seconds."""

    id: WaId
    subject: Name | None = None
    description: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    owner: WaId | None = None
    created_at: Annotated[int, msgspec.Meta(ge=0)] | None = None
    participants: Annotated[list[GroupMember], msgspec.Meta(max_length=5000)] = []
    i_am_admin: bool = False
    i_am_member: bool = False


class ParticipantResult(msgspec.Struct, frozen=True, kw_only=True):
    """One participant of a create or a participants change: ``error`` None when it worked."""

    id: WaId
    action: Code = "add"
    ok: bool
    error: Code | None = None
    invite_code: Code | None = None  # WhatsApp's invite when the person's privacy blocks adds


ParticipantResults = Annotated[list[ParticipantResult], msgspec.Meta(max_length=5000)]


class GroupCreated(msgspec.Struct, frozen=True):
    id: WaId
    participants: ParticipantResults = []


class GroupLeft(msgspec.Struct, frozen=True):
    id: WaId
    left: bool
    was_member: bool = True


class GroupInvite(msgspec.Struct, frozen=True):
    id: WaId
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


# --- media (issue 11) -------------------------------------------------------------------------
# The bytes travel beside the command in chunk frames (wamc/wire/transfer.py): ``transfer`` is
# the id the daemon drew for them; an upload is exactly ``size`` bytes, a download at most
# ``max_bytes``. The worker keeps an upload in its own folder (MEDIA_TMP under the client's
# folder of its host, unless WAMC_WORKER_MEDIA_DIR), never in one it shares with the daemon.
SEND_MEDIA = "send_media"  # {to, transfer, size, mimetype, filename, caption, kind, reply_to}
DOWNLOAD_MEDIA = "download_media"  # {id, transfer, max_bytes}
MEDIA_TMP = ("media", "tmp")  # the folder of the files, under the client's folder
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
