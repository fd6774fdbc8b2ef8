"""Request and answer models of the contacts, numbers and groups endpoints (issue 11).

They validate the bodies and are the schemas of /openapi.json (``REQUESTS`` and ``ANSWERS`` are
added to the document by wamc/api/openapi.py). Ids are checked by the patterns of
``wamc/validation/``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wamc.errors import Refused
from wamc.validation import contact_id, one_line

MAX_PARTICIPANTS = 256  # per list of one request; WhatsApp groups hold about 1024
SUBJECT_MAX = 100  # WhatsApp's limit on a group's name


def _people(ids: list[str]) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(ids):
        try:
            person = contact_id(raw)
        except Refused:
            raise ValueError(f"item {i}: not a phone number or contact id") from None
        if person not in out:
            out.append(person)
    return out


People = list[str]


def _people_field() -> Any:
    return Field(
        default_factory=list,
        max_length=MAX_PARTICIPANTS,
        examples=[["+55 11 98888-7777", "5511977770001@c.us"]],
    )


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=SUBJECT_MAX, examples=["Support team"])
    participants: People = Field(
        min_length=1, max_length=MAX_PARTICIPANTS, examples=[["+55 11 98888-7777"]]
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name is empty")
        return one_line(v.strip())

    @field_validator("participants")
    @classmethod
    def _participants(cls, v: list[str]) -> list[str]:
        return _people(v)


class ParticipantsChange(BaseModel):
    """Who to add, remove, promote to admin and demote; applied in that order."""

    model_config = ConfigDict(extra="forbid")

    add: People = _people_field()
    remove: People = _people_field()
    promote: People = _people_field()
    demote: People = _people_field()

    @field_validator("add", "remove", "promote", "demote")
    @classmethod
    def _lists(cls, v: list[str]) -> list[str]:
        return _people(v)


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class NumberExists(_Out):
    phone: str = Field(examples=["5511988887777"])
    exists: bool = Field(description="whether the number has WhatsApp")
    chat_id: str | None = Field(
        examples=["5511988887777@c.us"], description="the id to send to; null when not on WhatsApp"
    )
    is_business: bool = False


class ContactOut(_Out):
    id: str = Field(examples=["5511988887777@c.us"])
    name: str | None = Field(default=None, description="as saved in the phone's address book")
    push_name: str | None = Field(default=None, description="the name the contact gave itself")
    is_business: bool = False
    is_my_contact: bool = Field(default=False, description="in the phone's address book")


class ContactDetail(ContactOut):
    profile_picture_url: str | None = Field(
        default=None, description="WhatsApp's URL of the full picture (it expires); null: none"
    )
    is_blocked: bool = False


class ContactListOut(_Out):
    contacts: list[ContactOut]


class BlockResult(_Out):
    id: str = Field(examples=["5511988887777@c.us"])
    blocked: bool


class GroupSummaryOut(_Out):
    id: str = Field(examples=["120363012345678901@g.us"])
    subject: str | None = Field(default=None, examples=["Support team"])
    size: int = Field(default=0, description="how many participants")
    i_am_admin: bool = False


class GroupListOut(_Out):
    groups: list[GroupSummaryOut]


class GroupMemberOut(_Out):
    id: str = Field(examples=["5511988887777@c.us"])
    is_admin: bool = False
    is_super_admin: bool = Field(default=False, description="the group's creator")


class GroupInfoOut(_Out):
    id: str = Field(examples=["120363012345678901@g.us"])
    subject: str | None = None
    description: str | None = None
    owner: str | None = None
    created_at: str | None = Field(default=None, examples=["2026-01-01T12:00:00.000Z"])
    participants: list[GroupMemberOut]
    i_am_admin: bool = False
    i_am_member: bool = False


class ParticipantOutcome(_Out):
    id: str = Field(examples=["5511988887777@c.us"])
    action: Literal["add", "remove", "promote", "demote"] = "add"
    ok: bool
    error: str | None = Field(
        default=None,
        description="why not: not_on_whatsapp, already_participant, not_participant, "
        "already_admin, not_admin, privacy_restricted (an invite_code is given), "
        "pending_approval, failed",
    )
    invite_code: str | None = None


class GroupCreatedOut(_Out):
    id: str = Field(examples=["120363012345678901@g.us"])
    name: str
    participants: list[ParticipantOutcome] = Field(
        description="one per participant asked for; a number not on WhatsApp is left out "
        "with error not_on_whatsapp"
    )


class ParticipantsChanged(_Out):
    id: str = Field(examples=["120363012345678901@g.us"])
    participants: list[ParticipantOutcome] = Field(description="one per id and action")


class GroupLeftOut(_Out):
    id: str
    left: bool = True
    was_member: bool = Field(description="false: the client had already left (nothing done)")


class GroupInviteOut(_Out):
    id: str
    code: str = Field(examples=["AbCdEfGhIjK1234567890"])
    url: str = Field(examples=["https://chat.whatsapp.com/AbCdEfGhIjK1234567890"])


class GroupParticipantChangedData(_Out):
    """The ``data`` of a ``group.participant_changed`` event."""

    group_id: str = Field(examples=["120363012345678901@g.us"])
    action: Literal["add", "remove", "promote", "demote", "join", "leave"] = Field(
        description="join: added through an invite link; leave: removed themselves"
    )
    operation: str = Field(description="the group action as WhatsApp sent it")
    author: str | None = Field(description="who did it (null when WhatsApp does not say)")
    author_push_name: str | None = None
    participants: list[str]


REQUESTS: tuple[type[BaseModel], ...] = (GroupCreate, ParticipantsChange)
ANSWERS: tuple[type[BaseModel], ...] = (
    NumberExists,
    ContactListOut,
    ContactDetail,
    BlockResult,
    GroupListOut,
    GroupInfoOut,
    GroupCreatedOut,
    ParticipantsChanged,
    GroupLeftOut,
    GroupInviteOut,
    GroupParticipantChangedData,
)
