"""Media out and in (issue 11), end to end: real daemon, workers, Chromium, the simulator.

One client sends files (multipart and JSON), the simulator's media server hashes what it got;
the other receives them and downloads them through the API (cached, then "gone" at WhatsApp).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.support import Daemon, wait_for
from wamc.simulator.media import ogg_opus, pdf, png

PHONE_A = "5511900000101"
PHONE_B = "5511900000102"


def form(fields: dict[str, str], data: bytes, filename: str, ctype: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    for k, v in fields.items():
        f.add_field(k, v)
    f.add_field("file", data, filename=filename, content_type=ctype)
    return f


async def sent_record(sim_http: Any, phone: str, msg_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = [m for m in await sim_http.sent(phone) if m["id"] == msg_id]
        return found[0] if found else None

    return await wait_for(probe, timeout=30, what=f"{msg_id} at the simulator")


async def stored(daemon: Daemon, client: str, chat: str, pred: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        code, body = await daemon.call("GET", f"/api/clients/{client}/chats/{chat}/messages")
        assert code == 200, body
        found = [m for m in body["messages"] if pred(m)]
        return found[0] if found else None

    return await wait_for(probe, timeout=30, what=f"a stored message of {client}")


async def test_image_out_and_in_byte_identical_cached_then_gone(
    daemon: Daemon, sim_http: Any
) -> None:
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    await daemon.connect_scanned(sim_http, "shop", PHONE_B)
    image = png(97, 61, seed=7)
    digest = hashlib.sha256(image).hexdigest()

    code, body = await daemon.call(
        "POST",
        "/api/clients/acme/send-media",
        data=form({"to": PHONE_B, "caption": "a chart"}, image, "chart.png", "image/png"),
    )
    assert code == 201, body
    assert body["type"] == "image" and body["to"] == f"{PHONE_B}@c.us" and body["id"]
    record = await sent_record(sim_http, PHONE_A, body["id"])
    assert record["sha256"] == digest and record["size"] == len(image)
    assert record["type"] == "image" and record["mimetype"] == "image/png"
    assert record["caption"] == "a chart" and record["filename"] == "chart.png"

    # The sender's own history: the caption as text, the file described, never the thumbnail.
    mine = await stored(daemon, "acme", f"{PHONE_B}@c.us", lambda m: m["id"] == body["id"])
    assert mine["body"] == "a chart" and mine["media"]["sha256"] == digest

    # The receiver: the event and history carry the metadata and the download's path.
    got = await stored(daemon, "shop", f"{PHONE_A}@c.us", lambda m: m["type"] == "image")
    assert got["body"] == "a chart", got  # not the base64 thumbnail the MsgModel keeps in body
    assert got["media"] == {
        "mimetype": "image/png",
        "filename": "chart.png",
        "size": len(image),
        "caption": "a chart",
        "sha256": digest,
    }
    url = got["media_url"]
    assert url == f"/api/clients/shop/messages/{quote(got['id'], safe='')}/media"
    code, data = await daemon.call("GET", url)
    assert code == 200 and hashlib.sha256(data).hexdigest() == digest
    code, data = await daemon.call("GET", url + "?download=1")
    assert code == 200 and data == image

    # WhatsApp forgets the file: the cached copy still answers; an uncached one is 410.
    await sim_http.post("/control/media/gone", {"id": got["id"]})
    async with daemon.http.get(daemon.base + url + "?download=1") as r:  # type: ignore[union-attr]
        assert r.status == 200 and await r.read() == image
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["Content-Disposition"].startswith('attachment; filename="chart.png"')
    fresh = await sim_http.post(
        "/control/media", {"to": PHONE_B, "from": "5511988880001", "kind": "document"}
    )
    await sim_http.post("/control/media/gone", {"id": fresh["id"]})
    doc = await stored(daemon, "shop", "5511988880001@c.us", lambda m: m["id"] == fresh["id"])
    assert doc["type"] == "document" and doc["media"]["sha256"] == fresh["sha256"]
    code, problem = await daemon.call("GET", doc["media_url"])
    assert code == 410 and problem["code"] == "media_gone", problem

    # Unknown and malformed message ids.
    unknown = quote(f"false_{PHONE_A}@c.us_3EB0FFFFFFFFFFFFFFFF", safe="")
    code, problem = await daemon.call("GET", f"/api/clients/shop/messages/{unknown}/media")
    assert code == 404 and problem["code"] == "message_not_found"
    code, problem = await daemon.call("GET", "/api/clients/shop/messages/nonsense/media")
    assert code == 400 and problem["code"] == "invalid_message_id"


async def test_voice_json_and_refusals(daemon: Daemon, sim_http: Any) -> None:
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    voice = ogg_opus(1.5)
    code, body = await daemon.call(
        "POST",
        "/api/clients/acme/send-media",
        data=form({"to": PHONE_B, "as": "voice"}, voice, "note.ogg", "audio/ogg"),
    )
    assert code == 201 and body["type"] == "ptt", body
    record = await sent_record(sim_http, PHONE_A, body["id"])
    assert record["type"] == "ptt" and record["sha256"] == hashlib.sha256(voice).hexdigest()
    assert record["mimetype"] == "audio/ogg; codecs=opus"

    # JSON with base64: a document, its type sniffed from the bytes.
    document = pdf("invoice 42")
    payload = {
        "to": PHONE_B,
        "media": {"data": base64.b64encode(document).decode(), "filename": "invoice.pdf"},
        "caption": "your invoice",
    }
    code, body = await daemon.call("POST", "/api/clients/acme/send-media", json=payload)
    assert code == 201 and body["type"] == "document", body
    record = await sent_record(sim_http, PHONE_A, body["id"])
    assert record["sha256"] == hashlib.sha256(document).hexdigest()
    assert record["mimetype"] == "application/pdf" and record["filename"] == "invoice.pdf"

    # 415: the bytes do not fit the kind asked for (a PDF as an image, a PNG as a voice note).
    for kind, data in (("image", document), ("voice", png()), ("sticker", png())):
        code, problem = await daemon.call(
            "POST",
            "/api/clients/acme/send-media",
            data=form({"to": PHONE_B, "as": kind}, data, "x.bin", "application/octet-stream"),
        )
        assert code == 415 and problem["code"] == "unsupported_media_type", (kind, problem)
    bad = {"to": PHONE_B, "media": {"data": "not base64!"}}
    code, problem = await daemon.call("POST", "/api/clients/acme/send-media", json=bad)
    assert code == 400 and problem["field"] == "media.data", problem
    # A recipient not on WhatsApp: 422, and nothing was sent or stored.
    before = len(await sim_http.sent(PHONE_A))
    code, problem = await daemon.call(
        "POST", "/api/clients/acme/send-media", data=form({"to": "1234567"}, png(), "a.png", "")
    )
    assert code == 422 and problem["code"] == "not_on_whatsapp", problem
    assert len(await sim_http.sent(PHONE_A)) == before


async def test_size_limit_is_413_with_the_limit(make_daemon: Any, sim_http: Any) -> None:
    daemon = await make_daemon({"WAMC_MEDIA_MAX_IMAGE_MB": "0.01"})  # 10,485 bytes
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    small, big = png(8, 8), png(400, 300, seed=3)
    assert len(small) < 10_485 < len(big)
    code, problem = await daemon.call(
        "POST", "/api/clients/acme/send-media", data=form({"to": PHONE_B}, big, "big.png", "")
    )
    assert code == 413 and problem["code"] == "payload_too_large", problem
    assert "10485 bytes" in problem["detail"]
    code, body = await daemon.call(
        "POST", "/api/clients/acme/send-media", data=form({"to": PHONE_B}, small, "s.png", "")
    )
    assert code == 201 and body["type"] == "image", body


async def test_auto_download_on_arrival_and_media_by_url(make_daemon: Any, sim_http: Any) -> None:
    # Private addresses allowed here: the URL below is the simulator's, on loopback.
    env = {"WAMC_MEDIA_AUTO_DOWNLOAD": "1", "WAMC_WEBHOOK_ALLOW_PRIVATE": "1"}
    daemon = await make_daemon(env)
    await daemon.connect_scanned(sim_http, "shop", PHONE_B)
    contact = "5511988880002"
    voice = await sim_http.post("/control/media", {"to": PHONE_B, "from": contact, "kind": "ptt"})
    cache = daemon.home / "sessions" / "shop" / "media" / "cache"
    await wait_for(lambda: cache.is_dir() and any(cache.iterdir()), 30, what="auto-download")
    await sim_http.post("/control/media/gone", {"id": voice["id"]})  # too late: it is cached
    msg = await stored(daemon, "shop", f"{contact}@c.us", lambda m: m["id"] == voice["id"])
    assert msg["type"] == "ptt" and msg["body"] == ""
    assert msg["media"]["mimetype"] == "audio/ogg; codecs=opus"
    code, data = await daemon.call("GET", msg["media_url"])
    assert code == 200 and hashlib.sha256(data).hexdigest() == voice["sha256"]

    # Media by URL: fetched by the daemon, sent as a voice note.
    other = await sim_http.post("/control/media", {"to": PHONE_B, "from": contact, "kind": "ptt"})
    url = f"{sim_http.base}/sim/media/{other['direct_path']}"
    payload = {"to": PHONE_A, "media": {"url": url}, "as": "voice"}
    code, body = await daemon.call("POST", "/api/clients/shop/send-media", json=payload)
    assert code == 201 and body["type"] == "ptt", body
    record = await sent_record(sim_http, PHONE_B, body["id"])
    assert record["sha256"] == other["sha256"]


async def test_media_url_to_a_private_address_is_refused(daemon: Daemon, sim_http: Any) -> None:
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    payload = {"to": PHONE_B, "media": {"url": f"{sim_http.base}/sim/media/x"}}
    code, problem = await daemon.call("POST", "/api/clients/acme/send-media", json=payload)
    assert code == 400 and problem["field"] == "media.url", problem
    assert "loopback" in problem["detail"]
