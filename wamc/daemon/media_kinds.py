"""What a media file is, judged from its bytes (never from its name), and what may be sent as what.

WhatsApp takes images, videos, audio, voice notes and stickers only in a few formats, and
nothing is transcoded here: a file outside its kind's allowlist is refused (415
``unsupported_media_type``). A voice note must be OGG/Opus, a sticker WebP. Documents take any
type: their MIME type is the sniffed one, else the one the caller declared, else one guessed from
the file name, else ``application/octet-stream``.
"""

from __future__ import annotations

import mimetypes

import filetype

from wamc.config import Settings
from wamc.errors import Refused

SNIFF_BYTES = 8192  # what the sniffer needs of the head of a file
MB = 1024 * 1024
KINDS = ("image", "video", "audio", "voice", "document", "sticker")
# Our kind -> WhatsApp's message type.
WA_TYPE = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "voice": "ptt",
    "document": "document",
    "sticker": "sticker",
}
ALLOWED: dict[str, frozenset[str]] = {
    "image": frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
    "video": frozenset({"video/mp4", "video/3gpp", "video/quicktime"}),
    "audio": frozenset(
        {"audio/mpeg", "audio/mp4", "audio/ogg", "audio/aac", "audio/amr", "audio/x-wav"}
    ),
    "voice": frozenset({"audio/ogg"}),
    "sticker": frozenset({"image/webp"}),
}
VOICE_MIME = "audio/ogg; codecs=opus"


def sniff(head: bytes) -> str | None:
    """The MIME type the bytes show, or None."""
    if not head:
        return None
    found = filetype.guess_mime(head[:SNIFF_BYTES])
    return str(found) if found else None


def is_opus(head: bytes) -> bool:
    """An OGG stream whose first packet is an Opus header (``OpusHead``)."""
    return head[:4] == b"OggS" and b"OpusHead" in head[:128]


def default_kind(mime: str | None) -> str:
    """The kind a file is sent as when the caller does not say (``as``)."""
    if mime is None:
        return "document"
    for kind in ("image", "video", "audio"):
        if mime in ALLOWED[kind]:
            return kind
    return "document"


def resolve(
    kind: str | None, head: bytes, declared: str | None, filename: str | None
) -> tuple[str, str]:
    """(kind, MIME type) of a file to send; Refused 415 when the bytes do not fit the kind."""
    sniffed = sniff(head)
    kind = kind or default_kind(sniffed)
    if kind == "document":
        guessed = mimetypes.guess_type(filename)[0] if filename else None
        return kind, sniffed or _plain(declared) or guessed or "application/octet-stream"
    allowed = ALLOWED[kind]
    if sniffed not in allowed or (kind == "voice" and not is_opus(head)):
        what = sniffed or "an unrecognised type"
        need = "OGG/Opus" if kind == "voice" else ", ".join(sorted(allowed))
        raise Refused(
            "unsupported_media_type", f"the file is {what}: {kind} must be {need}", field="file"
        )
    return kind, VOICE_MIME if kind == "voice" else sniffed


def _plain(declared: str | None) -> str | None:
    """A declared MIME type if it looks like one (``type/subtype``), parameters dropped."""
    if not declared:
        return None
    value = declared.split(";", 1)[0].strip().lower()
    main, _, sub = value.partition("/")
    ok = main and sub and len(value) <= 127 and all(c.isalnum() or c in "/.+-_" for c in value)
    return value if ok else None


def limit_bytes(settings: Settings, kind: str) -> int:
    """The size limit of a kind (voice and audio share one, stickers the image one)."""
    mb = {
        "image": settings.media_max_image_mb,
        "sticker": settings.media_max_image_mb,
        "video": settings.media_max_video_mb,
        "audio": settings.media_max_audio_mb,
        "voice": settings.media_max_audio_mb,
        "document": settings.media_max_document_mb,
    }[kind]
    return int(mb * MB)


def largest_limit(settings: Settings) -> int:
    return max(limit_bytes(settings, k) for k in KINDS)


def too_large(kind: str, limit: int) -> Refused:
    return Refused(
        "payload_too_large",
        f"{kind} files are limited to {limit} bytes ({limit / MB:g} MB)",
        field="file",
    )
