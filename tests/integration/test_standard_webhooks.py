"""Standard Webhooks on real deliveries: a real daemon, worker and simulator post to a loopback
receiver; the ``standardwebhooks`` library verifies what arrives, retries keep their message id,
and secrets chosen by operators (or generated before) still sign ``X-Wamc-Signature`` as before."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import pytest
import standardwebhooks

from tests.integration.test_webhooks import (
    CONTACT,
    PHONE,
    SECRET,
    create_hook,
    fast_retry,
    verify,
)
from tests.support import Daemon, wait_for
from tests.support.webhooks import Hit, Receiver

# What wamc generated before Standard Webhooks: not padded base64, so its UTF-8 bytes stay the key.
OLDER_SECRET = "whsec_" + secrets.token_urlsafe(32)


def legacy_verify(secret: str, headers: Any, body: bytes) -> bool:
    """The README's example before Standard Webhooks (key = the secret's UTF-8 bytes)."""
    ts = headers["X-Wamc-Timestamp"]
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Wamc-Signature"], f"sha256={expected}")


def messages(receiver: Receiver, path: str) -> list[Hit]:
    return [h for h in receiver.to(path) if h.event["event"] == "message" and h.status < 300]


async def test_deliveries_verify_with_standardwebhooks_and_old_secrets_keep_working(
    make_daemon: Any, sim_http: Any, receiver: Receiver
) -> None:
    daemon: Daemon = await make_daemon({"WAMC_WEBHOOK_ALLOW_PRIVATE": "1"})
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    receiver.plan["/new"] = [503]  # one retry: the same message id, a fresh signature
    new = await create_hook(
        daemon, url=receiver.url("/new"), events=["message"], retry=fast_retry(3)
    )
    free = await create_hook(daemon, url=receiver.url("/free"), events=["message"], secret=SECRET)
    older = await create_hook(
        daemon, url=receiver.url("/older"), events=["message"], secret=OLDER_SECRET
    )
    code, body = await daemon.call(
        "POST", "/api/webhooks", json={"url": receiver.url("/x"), "headers": {"Webhook-Id": "1"}}
    )
    assert code == 400 and body["field"] == "headers", body  # the signed headers are ours
    assert new["secret"].startswith("whsec_")
    assert len(base64.b64decode(new["secret"][6:], validate=True)) == 32

    mid = await sim_http.deliver(PHONE, CONTACT, "standard héllo")
    for path in ("/new", "/free", "/older"):
        await wait_for(lambda p=path: messages(receiver, p), 60, what=f"the delivery to {path}")

    # The generated secret: the library verifies the exact body, as it is, and returns the event.
    attempts = receiver.to("/new")
    assert [h.status for h in attempts] == [503, 200]
    for hit in attempts:
        event = standardwebhooks.Webhook(new["secret"]).verify(hit.body, hit.headers)
        assert event["data"]["id"] == mid and event["id"] == hit.headers["webhook-id"]
        assert hit.headers["webhook-id"] == hit.headers["X-Wamc-Event-Id"]
        assert hit.headers["webhook-timestamp"] == hit.headers["X-Wamc-Timestamp"]
        assert hit.headers["webhook-signature"].startswith("v1,")
        assert verify(new["secret"], hit.headers, hit.body)  # X-Wamc-Signature: the same key
    assert attempts[0].headers["webhook-id"] == attempts[1].headers["webhook-id"]
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new["secret"]).verify(attempts[1].body + b" ", attempts[1].headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        standardwebhooks.Webhook(other).verify(attempts[1].body, attempts[1].headers)

    # Free-form and older secrets: X-Wamc-Signature exactly as receivers check it today, and the
    # Standard Webhooks signature with the same bytes as the key.
    for path, secret in (("/free", SECRET), ("/older", OLDER_SECRET)):
        (hit,) = messages(receiver, path)
        assert legacy_verify(secret, hit.headers, hit.body), path
        assert verify(secret, hit.headers, hit.body), path
        event = standardwebhooks.Webhook(secret.encode()).verify(hit.body, hit.headers)
        assert event["data"]["id"] == mid
    assert free["secret"] == SECRET and older["secret"] == OLDER_SECRET
