"""The two webhook signatures and their key: Standard Webhooks' published example, the library's
own signer, and the rule that keeps free-form (and older generated) secrets on their UTF-8 bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import standardwebhooks

from wamc.webhooks.signing import (
    delivery_headers,
    new_secret,
    sign,
    sign_standard,
    signing_key,
)


def test_the_specs_example_signature() -> None:
    # https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
    sig = sign_standard(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        b'{"test": 2432232314}',
    )
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    made = {new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert secret.startswith("whsec_")
        key = base64.b64decode(secret[6:], validate=True)
        assert len(key) == 32 and signing_key(secret) == key


def test_key_rule_keeps_free_form_and_older_secrets_on_their_utf8_bytes() -> None:
    older = "whsec_" + secrets.token_urlsafe(32)  # what wamc generated before: unpadded, URL-safe
    for secret in (
        older,
        "s3cret-for-tests-0123456789",
        "whsec_not base64 at all!",
        "ключ-секрет-16+",
    ):
        assert signing_key(secret) == secret.encode(), secret
    body, ts = '{"a":"é"}'.encode(), "1700000000"
    expected = hmac.new(older.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert sign(older, ts, body) == f"sha256={expected}"


def test_standard_signature_matches_the_library_for_both_kinds_of_key() -> None:
    body = '{"event":"message","data":{"body":"héllo"}}'.encode()
    ts = str(int(datetime.now(UTC).timestamp()))
    for secret, verifier in (
        (new_secret(), lambda s: standardwebhooks.Webhook(s)),
        ("free-form-secret-0123", lambda s: standardwebhooks.Webhook(s.encode())),
    ):
        headers = delivery_headers({}, secret, "wh_1", "ev_1", "message", 1, body, ts)
        assert verifier(secret).verify(body, headers) == {
            "event": "message",
            "data": {"body": "héllo"},
        }
        assert headers["webhook-id"] == headers["X-Wamc-Event-Id"] == "ev_1"
        assert headers["webhook-timestamp"] == headers["X-Wamc-Timestamp"] == ts
        key = signing_key(secret)
        mac = hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Wamc-Signature"] == f"sha256={mac}"


def test_custom_headers_never_replace_the_signed_ones() -> None:
    custom = {"Webhook-Signature": "v1,forged", "WEBHOOK-ID": "x", "Authorization": "Bearer t"}
    headers = delivery_headers(custom, new_secret(), "wh_1", "ev_1", "message", 1, b"{}", "1")
    assert headers["Authorization"] == "Bearer t"
    assert [k for k in headers if k.lower() == "webhook-signature"] == ["webhook-signature"]
    assert [k for k in headers if k.lower() == "webhook-id"] == ["webhook-id"]
    assert headers["webhook-signature"] != "v1,forged"
