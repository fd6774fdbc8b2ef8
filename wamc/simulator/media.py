"""Media in the simulated WhatsApp (issue 11): the media server, sample files with real bytes,
and the control endpoints that deliver media and make it "gone".

As on WhatsApp, a file travels apart from its message: the sending page uploads it to the media
server (``POST /sim/media`` → ``direct_path``), then sends a message that names it (type,
``mimetype``, ``filename``, ``size``, ``caption``, ``filehash`` = base64 SHA-256, ``directPath``,
and ``body`` = a base64 JPEG thumbnail for images). A receiving page downloads it from
``GET /sim/media/{direct_path}``: 404 when unknown, 410 once made gone (WhatsApp's servers keep
media only for a while). The simulator records the SHA-256 of the bytes it received itself, so a
test can compare what arrived with what it sent.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
import time
import zlib
from typing import Any

from aiohttp import web

from .model import BadRequest, NotFound, check_phone, new_msg_id, user_wid

MB = 1024 * 1024
UPLOAD_MAX = 200 * MB
MEDIA_KEYS = ("mimetype", "filename", "size", "caption", "filehash", "directPath")
# A 16x12 JPEG: the thumbnail the server puts in `body` of the images and videos it delivers.
THUMBNAIL = (
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABQODxIPDRQSEBIXFRQYHjIhHhwcHj0sLiQySUBMS0dARkVQWnNiUFVtVkVG"
    "ZIhlbXd7gYKBTmCNl4x9lnN+gXz/2wBDARUXFx4aHjshITt8U0ZTfHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8"
    "fHx8fHx8fHx8fHx8fHx8fHx8fHz/wAARCAAMABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcI"
    "CQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRol"
    "JicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ip"
    "qrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAA"
    "AAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLR"
    "ChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaX"
    "mJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEA"
    "PwDIhsfar0Nj7VpQwp6VehhT0pVMQzPB4qR//9k="
)


# --- sample files with real bytes --------------------------------------------------------------
def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """An RGB PNG of a gradient (different for each seed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00"
        + bytes(
            v
            for x in range(width)
            for v in ((x * 255 // width + seed) % 256, (y * 255 // height) % 256, seed % 256)
        )
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pdf(text: str = "wamc simulator", pad_to: int = 0) -> bytes:
    """A one-page PDF showing ``text``; ``pad_to`` grows it (a comment) to that many bytes."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    if pad_to > len(out):
        out += b"%" + b"x" * (pad_to - len(out) - 2) + b"\n"
    return bytes(out)


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], seq: int, granule: int, flags: int, serial: int) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, seq, 0, len(lacing))
    page = head + lacing + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus(seconds: float = 1.0) -> bytes:
    """An OGG/Opus voice note of silence (20 ms Opus frames), as WhatsApp's voice notes are."""
    serial = 0x57414D43
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"wamc" + struct.pack("<I", 0)
    frames = max(1, int(seconds * 50))
    pages = [_ogg_page([head], 0, 0, 0x02, serial), _ogg_page([tags], 1, 0, 0, serial)]
    for n, start in enumerate(range(0, frames, 50)):
        count = min(50, frames - start)
        last = start + count >= frames
        granule = (start + count) * 960
        flags = 0x04 if last else 0
        pages.append(_ogg_page([b"\xf8\xff\xfe"] * count, 2 + n, granule, flags, serial))
    return b"".join(pages)


def mp4() -> bytes:
    """The boxes of an (empty) MP4: enough for a type check, not for a player."""
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    return ftyp + struct.pack(">I", 16) + b"mdat" + b"\x00" * 8


SAMPLES = {  # kind -> (type, make bytes, mimetype, filename)
    "image": ("image", lambda: png(seed=secrets.randbelow(256)), "image/png", None),
    "document": ("document", lambda: pdf("wamc simulator document"), "application/pdf", "doc.pdf"),
    "ptt": ("ptt", lambda: ogg_opus(1.0), "audio/ogg; codecs=opus", None),
    "audio": ("audio", lambda: ogg_opus(2.0), "audio/ogg", None),
    "video": ("video", mp4, "video/mp4", None),
}


# --- the media server ---------------------------------------------------------------------------
class MediaStore:
    """Files by ``direct_path``; ``gone`` ones answer 410."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.gone: set[str] = set()

    def put(self, data: bytes) -> str:
        path = f"v/t62/{secrets.token_hex(16)}.enc"
        self.files[path] = data
        return path

    def sha256(self, path: Any) -> str | None:
        data = self.files.get(path) if isinstance(path, str) else None
        return hashlib.sha256(data).hexdigest() if data is not None else None


MEDIA_APP_KEY = web.AppKey("media", MediaStore)


def sent_media(world: Any, msg: dict[str, Any]) -> dict[str, Any]:
    """The media fields of a message a page sent, and the SHA-256 of the file the server holds."""
    fields = {k: msg[k] for k in MEDIA_KEYS if msg.get(k) is not None}
    if "directPath" in fields:
        fields["sha256"] = world.media.sha256(fields["directPath"])
    return fields


def media_extra(record: dict[str, Any]) -> dict[str, Any]:
    """What a delivered message carries of its file (the page's MsgModel fields)."""
    return {k: record[k] for k in MEDIA_KEYS if record.get(k) is not None}


def deliver_media(world: Any, data: dict[str, Any]) -> dict[str, Any]:
    """A contact sends a file: ``kind`` image|document|ptt|audio|video, optional ``data`` (base64
    bytes instead of the sample), ``caption``, ``filename``, ``mimetype``."""
    to, sender = check_phone(data.get("to"), "to"), check_phone(data.get("from"), "from")
    kind = data.get("kind", "image")
    if kind not in SAMPLES:
        raise BadRequest(f"kind must be one of {', '.join(SAMPLES)}")
    type_, make, mimetype, filename = SAMPLES[kind]
    raw = data.get("data")
    try:
        blob = base64.b64decode(raw, validate=True) if isinstance(raw, str) else make()
    except ValueError:
        raise BadRequest("data must be base64") from None
    caption = data.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise BadRequest("caption must be a string")
    if not world._linked_devices(to):
        raise NotFound(f"phone {to} has no linked WhatsApp Web device")
    path = world.media.put(blob)
    extra = {
        "mimetype": data.get("mimetype") or mimetype,
        "filename": data.get("filename") or filename,
        "size": len(blob),
        "caption": caption,
        "filehash": base64.b64encode(hashlib.sha256(blob).digest()).decode(),
        "directPath": path,
    }
    body = THUMBNAIL if type_ in ("image", "video") else ""
    msg_id = new_msg_id()
    live = world._deliver(to, sender, body, type_, msg_id, extra=media_extra(extra))
    return {
        "id": f"false_{user_wid(sender)}_{msg_id}",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
        "direct_path": path,
        "delivered": "live" if live else "queued",
    }


def make_gone(world: Any, data: dict[str, Any]) -> dict[str, Any]:
    """WhatsApp no longer has a file: by ``direct_path``, or by the ``id`` of its message."""
    path = data.get("direct_path")
    if path is None and isinstance(data.get("id"), str):
        bare = data["id"].rsplit("_", 1)[-1]
        for account in world.accounts.values():
            for record in (account.sent.get(bare), account.received.get(bare)):
                if record is not None and record.get("directPath"):
                    path = record["directPath"]
    if not isinstance(path, str) or path not in world.media.files:
        raise NotFound("no such media")
    world.media.gone.add(path)
    return {"direct_path": path, "gone": True}


# --- HTTP -----------------------------------------------------------------------------------------
async def upload(request: web.Request) -> web.Response:
    """The page uploads a file to send (streamed: the app's body limit does not apply)."""
    store = request.app[MEDIA_APP_KEY]
    buf = bytearray()
    async for chunk in request.content.iter_chunked(256 * 1024):
        buf += chunk
        if len(buf) > UPLOAD_MAX:
            raise web.HTTPRequestEntityTooLarge(max_size=UPLOAD_MAX, actual_size=len(buf))
    path = store.put(bytes(buf))
    return web.json_response({"direct_path": path, "size": len(buf), "at": int(time.time())})


async def download(request: web.Request) -> web.Response:
    store = request.app[MEDIA_APP_KEY]
    path = request.match_info["path"]
    if path in store.gone:
        return web.Response(status=410, text="gone")
    data = store.files.get(path)
    if data is None:
        return web.Response(status=404, text="not found")
    return web.Response(body=data, content_type="application/octet-stream")


def media_routes(world: Any, app: web.Application, body: Any) -> list[web.RouteDef]:
    """The media server's routes and the control endpoints (``body`` reads a JSON body)."""
    app[MEDIA_APP_KEY] = world.media

    async def control_media(request: web.Request) -> web.Response:
        return web.json_response(deliver_media(world, await body(request)))

    async def control_gone(request: web.Request) -> web.Response:
        return web.json_response(make_gone(world, await body(request)))

    return [
        web.post("/sim/media", upload),
        web.get("/sim/media/{path:.+}", download),
        web.post("/control/media", control_media),
        web.post("/control/media/gone", control_gone),
    ]
