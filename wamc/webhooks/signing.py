"""What a receiver verifies: ``X-Wamc-Signature: sha256=<hex HMAC-SHA256(secret,
"<X-Wamc-Timestamp>.<body>")>`` with ``X-Wamc-Timestamp`` in unix seconds; receivers dedupe on
``X-Wamc-Event-Id``."""

from __future__ import annotations

import hashlib
import hmac

from wamc import __version__

SIGNATURE_HEADER = "X-Wamc-Signature"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


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
    """The headers of one attempt: the hook's own, then ours (which win), signed."""
    return {
        **custom,
        "Content-Type": "application/json",
        "User-Agent": f"wamc/{__version__}",
        "X-Wamc-Event-Id": event_id,
        "X-Wamc-Event": event,
        "X-Wamc-Webhook-Id": webhook_id,
        "X-Wamc-Attempt": str(attempt),
        "X-Wamc-Timestamp": timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
