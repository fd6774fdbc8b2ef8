"""The webhook dispatcher's verdict on one attempt, and the signed headers (pure logic)."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from wamc.storage.webhooks import DEAD, DELIVERED, RETRY
from wamc.webhooks.dispatcher import Attempt, judge
from wamc.webhooks.models import Webhook
from wamc.webhooks.signing import SIGNATURE_HEADER, delivery_headers


def hook(max_attempts: int = 3, backoff_base: float = 10.0, backoff_max: float = 60.0) -> Webhook:
    return Webhook(
        id="wh_1",
        client=None,
        url="https://example.com/hook",
        events=None,
        secret="s" * 20,
        headers={},
        max_attempts=max_attempts,
        backoff_base=backoff_base,
        backoff_max=backoff_max,
        timeout=5.0,
        enabled=True,
        created_at="2024-01-01T00:00:00.000Z",
    )


@pytest.mark.parametrize(
    ("code", "error", "attempt", "outcome", "logged"),
    [
        (200, None, 1, DELIVERED, None),
        (204, None, 3, DELIVERED, None),
        (500, None, 1, RETRY, "HTTP 500"),
        (408, None, 2, RETRY, "HTTP 408"),
        (None, "ClientConnectorError: refused", 1, RETRY, "ClientConnectorError: refused"),
        (503, None, 3, DEAD, "HTTP 503"),  # the last attempt
        (404, None, 1, DEAD, "HTTP 404"),
        (301, None, 1, DEAD, "HTTP 301"),  # redirects are not followed
    ],
)
def test_verdict(
    code: int | None, error: str | None, attempt: int, outcome: str, logged: str | None
) -> None:
    before = time.time()
    r = judge(hook(), attempt, Attempt(code, error, 12.5))
    assert (r.attempt, r.outcome, r.status_code, r.error, r.latency_ms) == (
        attempt,
        outcome,
        code,
        logged,
        12.5,
    )
    if outcome == RETRY:
        ceiling = min(60.0, 10.0 * 2 ** (attempt - 1))
        assert r.next_at is not None
        assert before + ceiling / 2 <= r.next_at <= time.time() + ceiling
    else:
        assert r.next_at is None


def test_429_waits_for_retry_after_capped_by_backoff_max() -> None:
    before = time.time()
    r = judge(hook(), 1, Attempt(429, None, 1.0, retry_after=45.0))
    assert r.outcome == RETRY and r.next_at is not None
    assert before + 45.0 <= r.next_at <= time.time() + 45.0
    capped = judge(hook(), 1, Attempt(429, None, 1.0, retry_after=10_000.0))
    assert capped.next_at is not None and capped.next_at <= time.time() + 60.0


def test_signed_headers_verify_and_ours_win() -> None:
    body = b'{"event":"message"}'
    headers = delivery_headers(
        {"Authorization": "Bearer x"}, "s" * 20, "wh_1", "ev1", "message", 2, body, "1700000000"
    )
    expected = hmac.new(b"s" * 20, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == "sha256=" + expected
    assert headers["Authorization"] == "Bearer x"
    assert (headers["X-Wamc-Event-Id"], headers["X-Wamc-Attempt"]) == ("ev1", "2")
    assert headers["Content-Type"] == "application/json"
