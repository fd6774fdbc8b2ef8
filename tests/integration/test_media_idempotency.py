"""An ``Idempotency-Key`` on send-media (issue 11): a retried upload answers the first answer and
sends nothing; the same key with other bytes is a conflict. Real daemon, worker, simulator."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tests.integration.test_media import form, sent_record
from tests.support import Daemon
from wamc.simulator.media import png

PHONE_A = "5511900000111"
PHONE_B = "5511900000112"


async def test_retried_upload_with_the_same_key_is_sent_once(daemon: Daemon, sim_http: Any) -> None:
    await daemon.connect_scanned(sim_http, "idem", PHONE_A)
    image = png(40, 30, seed=3)
    url = "/api/clients/idem/send-media"
    key = {"Idempotency-Key": "upload-0001"}

    def upload(data: bytes = image, caption: str = "once") -> Any:
        return form({"to": PHONE_B, "caption": caption}, data, "once.png", "image/png")

    code, first = await daemon.call("POST", url, data=upload(), headers=key)
    assert code == 201, first
    await sent_record(sim_http, PHONE_A, first["id"])
    async with daemon.http.post(daemon.base + url, data=upload(), headers=key) as r:  # type: ignore[union-attr]
        assert r.status == 201 and await r.json() == first
        assert r.headers.get("Idempotent-Replayed") == "true"

    # Another file, or another caption, under the same key: refused, nothing sent.
    code, problem = await daemon.call("POST", url, data=upload(png(41, 30, seed=3)), headers=key)
    assert (code, problem["code"]) == (409, "idempotency_conflict"), problem
    code, problem = await daemon.call("POST", url, data=upload(caption="twice"), headers=key)
    assert (code, problem["code"]) == (409, "idempotency_conflict"), problem

    # The JSON form too; and a different key sends again.
    payload = {"to": PHONE_B, "media": {"data": base64.b64encode(image).decode()}}
    jkey = {"Idempotency-Key": "upload-json-0001"}
    code, j1 = await daemon.call("POST", url, json=payload, headers=jkey)
    assert code == 201, j1
    code, j2 = await daemon.call("POST", url, json=payload, headers=jkey)
    assert code == 201 and j2 == j1
    code, other = await daemon.call(
        "POST", url, data=upload(), headers={"Idempotency-Key": "upload-0002"}
    )
    assert code == 201 and other["id"] not in (first["id"], j1["id"])
    await sent_record(sim_http, PHONE_A, other["id"])

    sent = [m for m in await sim_http.sent(PHONE_A) if m.get("type") == "image"]
    digest = hashlib.sha256(image).hexdigest()
    assert sorted(m["id"] for m in sent) == sorted([first["id"], j1["id"], other["id"]])
    assert {m["sha256"] for m in sent} == {digest}

    code, problem = await daemon.call(
        "POST", url, data=upload(), headers={"Idempotency-Key": "bad key"}
    )
    assert (code, problem["code"]) == (400, "invalid_parameter")
