"""Media (issue 11), the pure parts: types sniffed from bytes, limits, the message id pattern, the
page's media fields, the wire payload, the cache's LRU eviction (real SQLite)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import msgspec
import pytest

from wamc.config import Settings
from wamc.daemon.media_kinds import limit_bytes, resolve
from wamc.errors import Refused
from wamc.simulator.media import mp4, ogg_opus, pdf, png
from wamc.storage import Database
from wamc.storage import media as media_rows
from wamc.storage import messages as message_rows
from wamc.validation import MESSAGE_ID, message_id
from wamc.wire import events as W
from wamc.wire import frames as F
from workers.media import message_media, sha256_hex
from workers.page_events import _Texts, clean


def test_types_come_from_the_bytes_not_the_name_or_the_caller() -> None:
    assert resolve(None, png(), "application/pdf", "x.pdf") == ("image", "image/png")
    assert resolve(None, pdf(), "image/png", "x.png") == ("document", "application/pdf")
    assert resolve(None, mp4(), None, None) == ("video", "video/mp4")
    assert resolve("voice", ogg_opus(), None, None) == ("voice", "audio/ogg; codecs=opus")
    assert resolve("audio", ogg_opus(), None, None) == ("audio", "audio/ogg")
    # Documents take anything: the declared type, else the name's, else octet-stream.
    assert resolve(None, b"a,b\n1,2\n", "text/csv; charset=utf-8", None) == ("document", "text/csv")
    assert resolve(None, b"a,b\n", None, "t.csv") == ("document", "text/csv")
    assert resolve("document", b"\x00\x01", "bogus", None)[1] == "application/octet-stream"
    assert resolve("document", png(), None, None) == ("document", "image/png")


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("image", pdf()),
        ("video", png()),
        ("audio", pdf()),
        ("voice", png()),
        ("sticker", png()),  # stickers are WebP
        ("image", b"plain text"),
        ("voice", b"OggS" + b"\x00" * 60),  # OGG, but not Opus
    ],
)
def test_a_mismatched_type_is_415(kind: str, data: bytes) -> None:
    with pytest.raises(Refused) as err:
        resolve(kind, data, None, None)
    assert err.value.code == "unsupported_media_type"


def test_limits_per_kind_follow_the_settings() -> None:
    s = Settings(media_max_image_mb=1, media_max_audio_mb=2, media_max_document_mb=3)
    assert limit_bytes(s, "sticker") == limit_bytes(s, "image") == 1024 * 1024
    assert limit_bytes(s, "voice") == limit_bytes(s, "audio") == 2 * 1024 * 1024
    assert limit_bytes(s, "document") == 3 * 1024 * 1024
    assert limit_bytes(Settings(), "video") == 16 * 1024 * 1024


def test_message_id_pattern() -> None:
    good = [
        "true_5511988887777@c.us_3EB0ABCDEF0123",
        "false_123456789012345@lid_ABCDEF",
        "false_120363000000000000@g.us_3EB0AB_5511988887777@c.us",  # two '@' in a group
    ]
    for value in good:
        assert message_id(value) == value
    bad = ["recent", "true_x@c.us", "maybe_1@c.us_AB", "true_1@c.us_AB\n", "true_1@c.us_A/B"]
    for value in bad:
        assert MESSAGE_ID.fullmatch(value) is None
        with pytest.raises(Refused):
            message_id(value)


def test_page_media_fields_are_checked_and_the_hash_becomes_hex() -> None:
    digest = hashlib.sha256(b"file").digest()
    t = _Texts()
    got = message_media(
        {
            "mimetype": "image/png",
            "size": 4,
            "caption": "hi",
            "filehash": base64.b64encode(digest).decode(),
            "filename": ["x"],
        },
        t,
    )
    assert got == {
        "media": {
            "mimetype": "image/png",
            "filename": None,
            "size": 4,
            "caption": "hi",
            "sha256": digest.hex(),
        }
    }
    assert message_media("junk", t) == {}
    assert message_media({"size": 2**60, "filehash": "AAAA"}, t)["media"]["size"] is None
    assert sha256_hex("not base64!") is None and sha256_hex(base64.b64encode(b"short")) is None
    # Through the page boundary: a text message has no media key, a media message has one.
    _, text = clean("message", {"id": "true_1234567@c.us_AB", "chat_id": "1234567@c.us"})
    assert "media" not in text
    _, image = clean(
        "message",
        {
            "id": "true_1234567@c.us_AB",
            "chat_id": "1234567@c.us",
            "type": "image",
            "media": {"mimetype": "image/png"},
        },
    )
    assert image["media"]["mimetype"] == "image/png"


def test_wire_payload_carries_media_and_refuses_a_bad_hash() -> None:
    enc = msgspec.msgpack.encode
    ok = {"id": "x", "chat_id": "y", "type": "image", "media": {"sha256": "ab" * 32, "size": 3}}
    payload = F.payload_of(F.Event(dn=1, name=W.MESSAGE, data=msgspec.Raw(enc(ok))))
    assert isinstance(payload, W.MessageData) and payload.media is not None
    assert payload.media.size == 3
    bad = {**ok, "media": {"sha256": "not hex"}}
    with pytest.raises(W.PayloadError):
        F.payload_of(F.Event(dn=1, name=W.MESSAGE, data=msgspec.Raw(enc(bad))))


async def test_cache_index_evicts_least_recently_used(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        for n, used in ((1, 10.0), (2, 20.0), (3, 30.0)):
            await media_rows.add_cached(db, "acme", f"m{n}", f"f{n}", 100, "image/png", "h", used)
        await media_rows.touch(db, "acme", "m1", 40.0)  # m1 is now the most recent
        await media_rows.add_cached(db, "other", "m9", "f9", 10_000, "image/png", "h", 1.0)
        dropped = await media_rows.evict(db, "acme", 250, keep="m3")
        assert dropped == ["f2"]  # the least recently used; m3 (just added) and m1 stay
        assert await media_rows.cache_size(db, "acme") == 200
        assert await media_rows.cache_size(db, "other") == 10_000
        # A stored message keeps its media as JSON; history shows it with the download path.
        row = {
            "id": "false_1234567@c.us_AB",
            "chat_id": "1234567@c.us",
            "body": "hi",
            "type": "image",
            "timestamp": 5,
        }
        assert await message_rows.add(db, "acme", row)
        media = {"mimetype": "image/png", "sha256": "ab" * 32}
        await media_rows.set_message_media(db, "acme", row["id"], media)
        assert await media_rows.message_media(db, "acme", row["id"]) == media
        assert await media_rows.message_media(db, "acme", "false_1@c.us_X") is None
        [(_, stored)] = await message_rows.page(db, "acme", "1234567@c.us", 10, None)
        assert stored["media"] == media
        assert stored["media_url"] == "/api/clients/acme/messages/false_1234567%40c.us_AB/media"
    finally:
        await db.close()


def test_media_command_results_and_tokens() -> None:
    from wamc.wire import commands as C
    from wamc.wire import frames as F

    sent = F.decode_raw(F.raw({"id": "true_1@c.us_AB", "ack": 1, "type": "ptt"}), C.SentMedia)
    assert sent == C.SentMedia("true_1@c.us_AB", 1, "ptt")
    assert F.decode_raw(F.raw({"size": 5, "mimetype": "image/png"}), C.Downloaded).size == 5
    with pytest.raises(F.WireError):
        F.decode_raw(F.raw({"size": -1}), C.Downloaded)
    assert C.MEDIA_TMP == ("media", "tmp")
    assert {"media_gone", "message_not_found", "not_on_whatsapp"} <= C.PASSTHROUGH_ERRORS
