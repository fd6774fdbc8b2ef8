"""The simulated servers' people and groups: address books, profiles (push name, business flag,
profile picture), block lists and groups with their participants, admins and invite codes.

A mixin of ``World`` (world.py). A linked page gets the whole *directory* of its account at
welcome (``directory_of``) and again whenever it changes; a group change also reaches every
page of every member as a ``group_action`` (what WhatsApp Web's ``updateDBForGroupAction``
receives, from which wa-js raises ``group.participant_changed``), queued for pages away.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .model import (
    USER_WID_RE,
    Account,
    BadRequest,
    Conflict,
    Connection,
    Device,
    NotFound,
    check_phone,
    is_on_whatsapp,
    user_wid,
)

GROUP_ACTIONS = ("add", "remove", "promote", "demote")
SUBJECT_MAX = 100
PICTURE_URL = "https://pps.whatsapp.net/v/t61.24694-24/{phone}_{version}.jpg?oe=sim"


@dataclass
class Profile:
    """What a number shows everyone: its push name, business flag and picture."""

    push_name: str | None = None
    business: bool = False
    picture: int = 0  # 0: none; else its version (a new picture has a new URL)


@dataclass
class Group:
    id: str
    subject: str
    owner: str  # phone of the creator (its super admin)
    creation: int
    desc: str = ""
    members: dict[str, bool] = field(default_factory=dict)  # phone -> admin
    former: set[str] = field(default_factory=set)  # phones that left or were removed
    invite: str = field(default_factory=lambda: secrets.token_urlsafe(16)[:22])

    def record(self) -> dict[str, Any]:
        """The group as a page stores it (GroupMetadata)."""
        return {
            "id": self.id,
            "subject": self.subject,
            "desc": self.desc,
            "owner": user_wid(self.owner),
            "creation": self.creation,
            "participants": [
                {"id": user_wid(p), "isAdmin": admin, "isSuperAdmin": p == self.owner}
                for p, admin in self.members.items()
            ],
        }


def phone_of(wid: Any, what: str = "participant") -> str:
    match = USER_WID_RE.match(wid) if isinstance(wid, str) else None
    if match is None:
        raise BadRequest(f"{what} must be a <phone>@c.us id")
    return match.group(1)


class Groups:
    devices: dict[str, Device]
    accounts: dict[str, Account]

    def init_groups(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.address_books: dict[str, dict[str, str]] = {}  # phone -> contact phone -> name
        self.blocked: dict[str, set[str]] = {}
        self.groups: dict[str, Group] = {}

    # ----------------------------------------------------------------- what a page knows
    def directory_of(self, phone: str) -> dict[str, Any]:
        """The account's contacts (address book, chat partners, fellow group members), its
        groups (also those it left) and its block list."""
        book = self.address_books.get(phone, {})
        known = set(book)
        account = self.accounts.get(phone)
        if account is not None:
            known |= {r["to"].split("@")[0] for r in account.sent.values()}
            known |= {r["from"].split("@")[0] for r in account.received.values()}
        mine = [g for g in self.groups.values() if phone in g.members or phone in g.former]
        for g in mine:
            known |= set(g.members)
        known = {p for p in known if p != phone and p.isdigit() and is_on_whatsapp(p)}
        contacts = []
        for p in sorted(known):
            prof = self.profiles.get(p, Profile())
            contacts.append(
                {
                    "id": user_wid(p),
                    "name": book.get(p),
                    "pushname": prof.push_name,
                    "isBusiness": prof.business,
                    "isMyContact": p in book,
                }
            )
        blocked = [user_wid(p) for p in sorted(self.blocked.get(phone, set()))]
        return {"contacts": contacts, "groups": [g.record() for g in mine], "blocked": blocked}

    def _refresh(self, phones: set[str] | None = None) -> None:
        """Send the directory again to the connected pages of ``phones`` (None: everyone)."""
        for phone in sorted(self.accounts if phones is None else phones):
            update = {"t": "directory", **self.directory_of(phone)}
            for device in self._linked_devices(phone):
                if device.conn is not None:
                    device.conn.push(update)

    def _announce(self, group: Group, action: str, people: list[str], author: str) -> None:
        """A group action for every page of every member (and of those it concerns)."""
        update = {
            "t": "group_action",
            "group": group.record(),
            "action": action,
            "participants": [user_wid(p) for p in people],
            "author": user_wid(author),
            "author_push_name": self.profiles.get(author, Profile()).push_name,
        }
        for phone in sorted(set(group.members) | set(people)):
            self._push_update(phone, update)

    # ----------------------------------------------------------------- page side
    def _me(self, conn: Connection) -> str:
        device = conn.device
        if device is None or device.phone is None:
            raise Conflict("not logged in")
        return device.phone

    def profile_pic(self, conn: Connection, wid: Any) -> dict[str, Any] | None:
        self._me(conn)
        phone = phone_of(wid, "id")
        version = self.profiles.get(phone, Profile()).picture
        if not version:
            return None
        url = PICTURE_URL.format(phone=phone, version=version)
        return {"id": user_wid(phone), "imgFull": url, "img": url + "&size=96", "tag": str(version)}

    def block(self, conn: Connection, wid: Any, blocked: Any) -> dict[str, Any]:
        me, phone = self._me(conn), phone_of(wid, "id")
        if not isinstance(blocked, bool):
            raise BadRequest("blocked must be true or false")
        mine = self.blocked.setdefault(me, set())
        if blocked:
            mine.add(phone)
        else:
            mine.discard(phone)
        self._refresh({me})
        return {"blocked": [user_wid(p) for p in sorted(mine)]}

    def create_group(self, creator: str, subject: Any, people: list[str]) -> Group:
        if not isinstance(subject, str) or not subject.strip() or len(subject) > SUBJECT_MAX:
            raise BadRequest(f"subject must be 1 to {SUBJECT_MAX} characters")
        gid = f"120363{secrets.randbelow(10**12):012d}@g.us"
        group = Group(gid, subject.strip(), creator, int(time.time()))
        group.members[creator] = True
        for p in people:
            if p != creator and is_on_whatsapp(p):
                group.members[p] = False
        self.groups[gid] = group
        self._refresh(set(group.members))
        return group

    def page_group_create(self, conn: Connection, subject: Any, wids: Any) -> dict[str, Any]:
        me = self._me(conn)
        if not isinstance(wids, list):
            raise BadRequest("participants must be a list of ids")
        people = [phone_of(w) for w in wids]
        group = self.create_group(me, subject, people)
        codes = [{user_wid(p): {"code": "200" if p in group.members else "404"}} for p in people]
        return {"gid": group.id, "participants": codes, "group": group.record()}

    def group_member(self, gid: str, phone: str) -> bool:
        """Is ``phone`` in group ``gid`` now (may it send there)?"""
        group = self.groups.get(gid)
        return group is not None and phone in group.members

    def _group(self, gid: Any) -> Group:
        group = self.groups.get(gid) if isinstance(gid, str) else None
        if group is None:
            raise NotFound(f"no group {gid}")
        return group

    def change(self, gid: Any, by: str, action: Any, people: list[str]) -> list[dict[str, Any]]:
        """``by`` adds, removes, promotes or demotes; a code per person (200 done)."""
        group = self._group(gid)
        if action not in GROUP_ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(GROUP_ACTIONS)}")
        if not group.members.get(by):
            raise Conflict(f"{by} is not an admin of {gid}")
        codes, done = [], []
        for p in people:
            code = self._apply(group, action, p)
            codes.append({user_wid(p): {"code": str(code)}})
            if code == 200:
                done.append(p)
        if done:
            self._announce(group, action, done, by)
            self._refresh(set(group.members) | set(done))
        return codes

    @staticmethod
    def _apply(group: Group, action: str, p: str) -> int:
        member = p in group.members
        if action == "add":
            if member:
                return 409
            if not is_on_whatsapp(p):
                return 404
            group.members[p] = False
            group.former.discard(p)
        elif not member:
            return 404
        elif action == "remove":
            del group.members[p]
            group.former.add(p)
        else:
            group.members[p] = action == "promote"
        return 200

    def page_group_change(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        me, wids = self._me(conn), msg.get("participants")
        if not isinstance(wids, list):
            raise BadRequest("participants must be a list of ids")
        codes = self.change(msg.get("gid"), me, msg.get("action"), [phone_of(w) for w in wids])
        return {"participants": codes, "group": self._group(msg.get("gid")).record()}

    def page_group_leave(self, conn: Connection, gid: Any) -> dict[str, Any]:
        me, group = self._me(conn), self._group(gid)
        if me not in group.members:
            raise Conflict(f"{me} is not in {gid}")
        del group.members[me]
        group.former.add(me)
        if group.members and not any(group.members.values()):
            group.members[next(iter(group.members))] = True  # WhatsApp names a new admin
        self._announce(group, "remove", [me], me)
        self._refresh(set(group.members) | {me})
        return {"group": group.record()}

    def page_group_invite(self, conn: Connection, gid: Any, revoke: Any) -> dict[str, Any]:
        me, group = self._me(conn), self._group(gid)
        if not group.members.get(me):
            raise Conflict(f"{me} is not an admin of {gid}")
        if revoke is True:
            group.invite = secrets.token_urlsafe(16)[:22]
        return {"code": group.invite}

    # ----------------------------------------------------------------- phone side (control API)
    def add_contact(self, phone: Any, contact: Any, name: Any) -> dict[str, Any]:
        phone, contact = check_phone(phone), check_phone(contact, "contact")
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise BadRequest("name must be 1 to 256 characters")
        self.address_books.setdefault(phone, {})[contact] = name.strip()
        self._refresh({phone})
        return {"phone": phone, "contact": user_wid(contact), "name": name.strip()}

    def set_profile(self, phone: Any, data: dict[str, Any]) -> dict[str, Any]:
        phone = check_phone(phone)
        prof = self.profiles.setdefault(phone, Profile())
        name, business, picture = data.get("push_name"), data.get("business"), data.get("picture")
        if name is not None:
            if not isinstance(name, str) or len(name) > 256:
                raise BadRequest("push_name must be a string of at most 256 characters")
            prof.push_name = name or None
        if business is not None:
            if not isinstance(business, bool):
                raise BadRequest("business must be true or false")
            prof.business = business
        if picture is not None:
            if not isinstance(picture, bool):
                raise BadRequest("picture must be true or false")
            prof.picture = prof.picture + 1 if picture else 0
        self._refresh()
        pic = PICTURE_URL.format(phone=phone, version=prof.picture) if prof.picture else None
        return {
            "phone": phone,
            "push_name": prof.push_name,
            "business": prof.business,
            "picture": pic,
        }

    def describe_group(self, gid: Any) -> dict[str, Any]:
        group = self._group(gid)
        return {**group.record(), "invite": group.invite, "former": sorted(group.former)}

    def directory(self, phone: Any) -> dict[str, Any]:
        return self.directory_of(check_phone(phone))

    # provided by Messaging
    def _linked_devices(self, phone: str) -> list[Device]:
        raise NotImplementedError

    def _push_update(self, phone: str, update: dict[str, Any]) -> bool:
        raise NotImplementedError
