"""What a receiver verifies; every delivery carries two signatures over the same key.

* Standard Webhooks (https://www.standardwebhooks.com/, verifiable with the ``standardwebhooks``
  libraries): ``webhook-id`` (the event id, the same on every attempt), ``webhook-timestamp``
  (unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``.
* wamc's own, kept for existing receivers: ``X-Wamc-Signature: sha256=<hex HMAC-SHA256(key,
  "<X-Wamc-Timestamp>.<body>")>``.

The key: for a ``whsec_`` secret whose rest is strict, padded base64 (what wamc generates), the
decoded bytes; for any other secret (one the operator chose, or one generated before Standard
Webhooks, ``whsec_`` + URL-safe base64 without padding) its UTF-8 bytes, as before.
Receivers dedupe on ``X-Wamc-Event-Id`` (= ``webhook-id``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from wamc import __version__

SIGNATURE_HEADER = "X-Wamc-Signature"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def new_secret() -> str:
    """A fresh secret: ``whsec_`` + standard base64 of random bytes (Standard Webhooks form)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key of ``secret`` (see the module docstring)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Wamc-Signature``."""
    mac = hmac.new(signing_key(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign_standard(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """``webhook-signature`` (Standard Webhooks, version 1)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def delivery_headers(
    custom: dict[str, str],
    secret: str,
    webhook_id: str,
    event_id: str,
    event: str,
    attempt: int,
    body: bytes,
    timestamp: str,
) -> dict[str, str]:
    """The headers of one attempt: the hook's own, then ours (which win, whatever the case of
    a custom name), signed twice."""
    ours = {
        "Content-Type": "application/json",
        "User-Agent": f"wamc/{__version__}",
        "X-Wamc-Event-Id": event_id,
        "X-Wamc-Event": event,
        "X-Wamc-Webhook-Id": webhook_id,
        "X-Wamc-Attempt": str(attempt),
        "X-Wamc-Timestamp": timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign_standard(secret, event_id, timestamp, body),
    }
    taken = {name.lower() for name in ours}
    return {**{k: v for k, v in custom.items() if k.lower() not in taken}, **ours}
