"""The gateway's per-request shortcuts (issue 13) change nothing a caller can see: the key
bucket still caps at its burst and answers 429 with the same detail, failed sign-ins are still
tracked from the first one, and the status answer carries exactly the gate's headers."""

from __future__ import annotations

import pytest
from aiohttp import web

from wamc.api.middleware import BASE_HEADERS, _set_headers
from wamc.api.replies import Preset, json_body_reply
from wamc.security import ApiLimiter, AuthFailureLimiter, Throttled


def test_bucket_refills_up_to_its_burst_and_no_further() -> None:
    lim = ApiLimiter(per_minute=60, burst=3)
    for _ in range(3):
        lim.hit("k", now=0.0)
    lim.hit("k", now=1000.0)  # a long pause refills to 3, not to 1000
    lim.hit("k", now=1000.0)
    lim.hit("k", now=1000.0)
    with pytest.raises(Throttled) as exc:
        lim.hit("k", now=1000.0)
    assert str(exc.value) == "this key is limited to 60 requests a minute (bursts of 3)"
    assert exc.value.retry_after == pytest.approx(1.0)


def test_failed_sign_ins_are_tracked_from_the_first_one() -> None:
    lim = AuthFailureLimiter(per_minute=5)
    assert lim.tracking is False
    lim.failed("1.2.3.4", now=0.0)
    assert lim.tracking is True
    off = AuthFailureLimiter(per_minute=0)
    off.failed("1.2.3.4", now=0.0)
    assert off.tracking is False  # 0 disables: nothing recorded, nothing to check


def test_the_status_answer_has_the_headers_the_gate_would_add() -> None:
    preset = json_body_reply(b"{}")
    assert isinstance(preset, Preset)
    gated = web.Response(body=b"{}", content_type="application/json", charset="utf-8")
    _set_headers(gated.headers, True, None)  # what the gate does to any private answer
    assert list(preset.headers.items()) == list(gated.headers.items())
    assert {k: preset.headers[k] for k in BASE_HEADERS} == BASE_HEADERS
    assert preset.headers["Cache-Control"] == "no-store"
