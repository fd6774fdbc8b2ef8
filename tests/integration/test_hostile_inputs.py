"""Findings of a hostile try of the messaging and portal endpoints (issue 11/12), each refused
with a clear answer and nothing logged as an internal error: a malformed multipart line, a
repeated form field, an upload the caller aborts, control characters that would end up inside a
vCard or a group subject, and an invite link built from a forged Host header."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.support import API_KEY, wait_for

PHONE = "5511900000151"
CONTACT = "5511955550151"
BOUNDARY = "BOUNDARYxyz"


def multipart(*parts: tuple[str, str | bytes]) -> bytes:
    out = b""
    for name, value in parts:
        body = value.encode() if isinstance(value, str) else value
        disposition = f'form-data; name="{name}"' + ('; filename="a.bin"' if name == "file" else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += body + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def test_hostile_inputs_are_refused_cleanly(make_daemon: Any, sim_http: Any) -> None:
    daemon = await make_daemon({"WAMC_PUBLIC_URL": "https://wa.example.com/"})
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    url = f"{daemon.base}/api/clients/acme/send-media"
    headers = {"X-Api-Key": API_KEY, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    async with aiohttp.ClientSession() as http:
        # A 600 KB line where a part's headers should be: malformed, not an internal error.
        long_line = b"x" * 600_000 + f"\r\n--{BOUNDARY}--\r\n".encode()
        async with http.post(url, data=long_line, headers=headers) as res:
            problem = await res.json()
            assert res.status == 400 and problem["code"] == "invalid_field", problem

        # A field sent twice (a way to make the daemon read without end): refused at once.
        twice = multipart(("caption", "a"), ("caption", "b"), ("to", CONTACT), ("file", b"x"))
        async with http.post(url, data=twice, headers=headers) as res:
            problem = await res.json()
            assert res.status == 400 and problem["field"] == "caption", problem

        # An upload the caller aborts half-way: the caller is gone, nothing of ours failed.
        reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
        start = multipart(("to", CONTACT)).rsplit(b"--" + BOUNDARY.encode() + b"--", 1)[0]
        head = (
            f"POST /api/clients/acme/send-media HTTP/1.1\r\nHost: x\r\nX-Api-Key: {API_KEY}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            "Content-Length: 9000000\r\n\r\n"
        ).encode()
        part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        writer.write(head + start + part.encode() + b"\0" * 2_000_000)
        await writer.drain()
        writer.close()
        log = daemon.home / "logs" / "wamc.log"
        await wait_for(
            lambda: "the caller went away" in log.read_text(errors="replace"),
            30,
            what="the aborted upload noticed",
        )

        # Control characters that would start a new vCard line, or sit in a group subject.
        code, problem = await daemon.call(
            "POST",
            "/api/clients/acme/send-contact",
            json={"to": CONTACT, "contacts": [{"id": CONTACT, "name": "A\r\nEND:VCARD\r\nTEL:1"}]},
        )
        assert code == 400 and "control characters" in problem["detail"], problem
        code, problem = await daemon.call(
            "POST", "/api/clients/acme/groups", json={"name": "a\u0000b", "participants": [CONTACT]}
        )
        assert code == 400 and "control characters" in problem["detail"], problem

        # The invite link comes from the configured address, never from the Host header.
        async with http.post(
            f"{daemon.base}/api/clients/acme/portal-invite",
            headers={"X-Api-Key": API_KEY, "Host": "evil.example"},
        ) as res:
            invite = await res.json()
            assert res.status == 201, invite
            assert invite["url"].startswith("https://wa.example.com/portal#token="), invite

    text = (daemon.home / "logs" / "wamc.log").read_text(errors="replace")
    assert "unhandled error" not in text
    assert (await daemon.status("acme"))["state"] == "connected"
