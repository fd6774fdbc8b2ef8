"""Media to send given by URL (``"media": {"url"}``): fetched by the daemon through the webhook
SSRF guard (wamc/webhooks/guard.py): http(s) only, no credentials in the URL, never a private,
loopback or link-local address unless ``WAMC_WEBHOOK_ALLOW_PRIVATE`` — also after DNS (the
resolver drops such addresses) and at every redirect (followed by hand, each one checked)."""

from __future__ import annotations

import aiohttp
from yarl import URL

from wamc.daemon.media import write_all
from wamc.errors import Refused
from wamc.webhooks.guard import PublicOnlyResolver, check_destination

MAX_REDIRECTS = 3
CHUNK = 256 * 1024


async def fetch_to_fd(
    url: str, fd: int, limit: int, allow_private: bool, timeout: float
) -> tuple[int, bytes, str | None]:
    """Stream ``url`` into ``fd``: (bytes written, the head for sniffing, declared type).
    Refused ``payload_too_large`` past ``limit``, ``invalid_field`` when it cannot be fetched."""
    resolver = None if allow_private else PublicOnlyResolver()
    connector = aiohttp.TCPConnector(limit=4, resolver=resolver)
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as http:
        for _ in range(MAX_REDIRECTS + 1):
            target = await _checked(url, allow_private)
            try:
                async with http.get(target, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = str(URL(target).join(URL(resp.headers["Location"])))
                        continue
                    if resp.status != 200:
                        raise _bad(f"the media URL answered {resp.status}")
                    return await _stream(resp, fd, limit) + (resp.content_type or None,)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise _bad(f"the media URL could not be fetched: {type(exc).__name__}") from None
    raise _bad(f"the media URL redirects more than {MAX_REDIRECTS} times")


async def _checked(url: str, allow_private: bool) -> str:
    try:
        return await check_destination(url, allow_private)
    except Refused as exc:  # the guard speaks of webhooks: the caller's field is media.url
        raise _bad(exc.detail) from None


async def _stream(resp: aiohttp.ClientResponse, fd: int, limit: int) -> tuple[int, bytes]:
    if resp.content_length is not None and resp.content_length > limit:
        raise Refused("payload_too_large", f"media is limited to {limit} bytes", field="media.url")
    size, head = 0, b""
    async for chunk in resp.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise Refused(
                "payload_too_large", f"media is limited to {limit} bytes", field="media.url"
            )
        if len(head) < 8192:
            head += chunk[: 8192 - len(head)]
        write_all(fd, chunk)
    return size, head


def _bad(detail: str) -> Refused:
    return Refused("invalid_field", detail, field="media.url")
