"""The route table's contacts, numbers and groups sections (issue 11)."""

from __future__ import annotations

from wamc import validation as V
from wamc.api import group_models as GM
from wamc.api.handlers import (
    contacts,
    groups,
)
from wamc.api.routes.common import C
from wamc.api.spec import (
    CLIENT_ERRORS,
    CLIENT_PARAM,
    WORKER_ERRORS,
    Param,
    Route,
    limit,
    query,
)

GROUP_PARAM = Param(
    "gid",
    "path",
    {"type": "string", "pattern": V.GROUP_ID.pattern},
    "a group's id",
    True,
    "120363012345678901@g.us",
)
CONTACT_PARAM = Param(
    "contactId",
    "path",
    {"type": "string"},
    "a contact's id (`<number>@c.us` or `<lid>@lid`) or a phone number with its country code",
    True,
    "5511988887777@c.us",
)
PHONE_PARAM = Param(
    "phone",
    "path",
    {"type": "string", "pattern": V.PHONE.pattern},
    "a phone number with its country code (digits, optional +)",
    True,
    "5511988887777",
)
ONLINE = (*CLIENT_ERRORS, *WORKER_ERRORS)
GROUP_ERRORS = (*ONLINE, "invalid_chat_id", "chat_not_found")
GROUP_CHANGE_ERRORS = (
    *GROUP_ERRORS,
    "not_group_admin",
    "invalid_json",
    "invalid_field",
    "send_queue_full",
)
# fmt: off
CONTACT_ROUTES = [
    Route("GET", C + "/contacts", contacts.list_contacts, "read", "list_contacts",
          "The contacts WhatsApp Web knows", "contacts", response=GM.ContactListOut,
          errors=(*ONLINE, "invalid_parameter"),
          params=(CLIENT_PARAM, limit(1000, 5000),
                  query("only_my_contacts", {"type": "boolean", "default": False},
                        "only those saved in the phone's address book")),
          description="`WPP.contact.list`: people in the address book and people the account "
          "has talked to or shares a group with, without their profile pictures."),
    Route("GET", C + "/contacts/{contactId}", contacts.get_contact, "read", "get_contact",
          "One contact, with its profile picture URL", "contacts", response=GM.ContactDetail,
          errors=(*ONLINE, "invalid_chat_id", "contact_not_found"),
          params=(CLIENT_PARAM, CONTACT_PARAM),
          description="`WPP.contact.get` and `WPP.contact.getProfilePictureUrl` (WhatsApp's URL "
          "expires after a while; null when the contact shows no picture to this account). 404 "
          "contact_not_found when WhatsApp Web does not know the contact."),
    Route("POST", C + "/contacts/{contactId}/block", contacts.block_contact, "send",
          "block_contact", "Block a contact", "contacts", response=GM.BlockResult,
          errors=(*ONLINE, "invalid_chat_id"), params=(CLIENT_PARAM, CONTACT_PARAM),
          description="`WPP.blocklist.blockContact`. Idempotent."),
    Route("POST", C + "/contacts/{contactId}/unblock", contacts.unblock_contact, "send",
          "unblock_contact", "Unblock a contact", "contacts", response=GM.BlockResult,
          errors=(*ONLINE, "invalid_chat_id"), params=(CLIENT_PARAM, CONTACT_PARAM),
          description="`WPP.blocklist.unblockContact`. Idempotent."),
    Route("GET", C + "/numbers/{phone}", contacts.number_exists, "read", "number_exists",
          "Whether a phone number is on WhatsApp", "contacts", response=GM.NumberExists,
          errors=(*ONLINE, "invalid_parameter", "rate_limited"),
          params=(CLIENT_PARAM, PHONE_PARAM),
          description="`WPP.contact.queryExists`. Rate limited per client "
          "(WAMC_NUMBER_LOOKUPS_PER_MINUTE, bursts of WAMC_NUMBER_LOOKUP_BURST; 429 rate_limited "
          "with Retry-After beyond): checking many numbers is a known reason for a ban."),
]
GROUP_ROUTES = [
    Route("GET", C + "/groups", groups.list_groups, "send", "list_groups",
          "The groups the account is in", "groups", response=GM.GroupListOut, errors=ONLINE,
          params=(CLIENT_PARAM,), description="`WPP.group.getAllGroups`."),
    Route("POST", C + "/groups", groups.create_group, "send", "create_group", "Create a group",
          "groups", ok=201, response=GM.GroupCreatedOut, request=GM.GroupCreate,
          errors=(*ONLINE, "invalid_json", "invalid_field", "not_on_whatsapp",
                  "send_queue_full"),
          params=(CLIENT_PARAM,),
          description="`WPP.group.create`. Each participant is checked first "
          "(`WPP.contact.queryExists`): one not on WhatsApp is left out and reported with error "
          "`not_on_whatsapp` in `participants`; when none is on WhatsApp nothing is created "
          "(422 not_on_whatsapp). Paced like sends."),
    Route("GET", C + "/groups/{gid}", groups.group_info, "send", "group_info",
          "A group: subject, description, participants with their admin flags", "groups",
          response=GM.GroupInfoOut, errors=GROUP_ERRORS, params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.getParticipants` and the group's metadata. 404 chat_not_found "
          "for a group WhatsApp Web does not have."),
    Route("POST", C + "/groups/{gid}/participants", groups.change_participants, "send",
          "group_participants", "Add, remove, promote or demote participants", "groups",
          response=GM.ParticipantsChanged, request=GM.ParticipantsChange,
          errors=GROUP_CHANGE_ERRORS, params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.addParticipants`, `removeParticipants`, "
          "`promoteParticipants`, `demoteParticipants`, in that order. Needs the client to be "
          "an admin of the group (409 not_group_admin). Every id gets its outcome in "
          "`participants` (`ok`, or an `error`: not_on_whatsapp, already_participant, "
          "not_participant, already_admin, not_admin, privacy_restricted with an "
          "`invite_code`, pending_approval). Each change is also a `group.participant_changed` "
          "event. Paced like sends."),
    Route("POST", C + "/groups/{gid}/leave", groups.leave_group, "send", "leave_group",
          "Leave a group", "groups", response=GM.GroupLeftOut,
          errors=(*GROUP_ERRORS, "send_queue_full"), params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.leave`. Idempotent: `was_member` is false when the client "
          "had already left."),
    Route("GET", C + "/groups/{gid}/invite", groups.group_invite, "send", "group_invite",
          "The group's invite link", "groups", response=GM.GroupInviteOut,
          errors=(*GROUP_ERRORS, "not_group_admin"), params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.getInviteCode`; only admins may see it (409 "
          "not_group_admin)."),
    Route("POST", C + "/groups/{gid}/invite/revoke", groups.revoke_group_invite, "send",
          "revoke_group_invite", "Revoke the invite link (a new one replaces it)", "groups",
          response=GM.GroupInviteOut, errors=(*GROUP_ERRORS, "not_group_admin",
                                              "send_queue_full"),
          params=(CLIENT_PARAM, GROUP_PARAM),
          description="`WPP.group.revokeInviteCode`: the old link stops working; the answer "
          "is the new one."),
]
# fmt: on
