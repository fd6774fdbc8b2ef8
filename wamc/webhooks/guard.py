"""Where a webhook may send: http(s) only, and never to an address that is not globally routable
(also when a name resolves to one at delivery time) unless ``Settings.webhook_allow_private``.
IPv6 forms that tunnel an IPv4 address are judged by that address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

from wamc.errors import Refused

ALLOW_PRIVATE_ENV = "WAMC_WEBHOOK_ALLOW_PRIVATE"  # named in refusals: how to allow them
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IPv6 ranges refused outright: site-local (deprecated, still routed inside some networks),
# IPv4-compatible (deprecated ``::a.b.c.d``), IPv4-translated (SIIT) and local-use NAT64.
REFUSED_V6 = tuple(
    ipaddress.ip_network(net) for net in ("fec0::/10", "::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48")
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, Teredo client, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_address(raw: str) -> bool:
    """True for addresses a webhook may not reach by default: anything not globally routable.

    Addresses that tunnel IPv4 (``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo, NAT64) are judged
    by the IPv4 address inside, so ``2002:7f00:1::`` is loopback; the ranges in
    :data:`REFUSED_V6` are refused whatever they carry."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            raw.split("%", 1)[0]
        )
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in REFUSED_V6):
            return True
        inner = embedded_ipv4(ip)
        if inner is not None:
            ip = inner
    return (
        not ip.is_global
        or ip.is_multicast
        or (isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT)
    )


def ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def blocked_literal(host: str) -> bool:
    """An IP-literal host that :func:`blocked_address` refuses (names are checked on resolve)."""
    return ip_literal(host) and blocked_address(host.strip("[]"))


def check_url(raw: str, allow_private: bool) -> str:
    """Validate a destination: absolute http(s), no credentials, not private (unless allowed)."""
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        raise Refused("invalid_field", "url is not a valid URL", field="url") from None
    if url.scheme not in ("http", "https") or not url.host or not url.is_absolute():
        raise Refused("invalid_field", "url must be an absolute http(s) URL", field="url")
    if url.user or url.password:
        raise Refused("invalid_field", "put credentials in headers, not in the url", field="url")
    host = url.host.lower().rstrip(".")
    if not allow_private and (
        host == "localhost" or host.endswith(".localhost") or blocked_literal(host)
    ):
        raise Refused(
            "webhook_url_refused",
            f"{host} is a private, loopback or link-local address "
            f"(set {ALLOW_PRIVATE_ENV}=1 to allow)",
            field="url",
        )
    return str(url)


async def check_resolves_public(raw: str) -> None:
    """At configuration time: refuse a name that resolves to a blocked address."""
    host = URL(raw).host or ""
    if ip_literal(host):
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return  # may resolve later; every delivery checks again
    if any(blocked_address(str(info[4][0])) for info in infos):
        raise Refused(
            "webhook_url_refused",
            f"{host} resolves to a private, loopback or link-local address "
            f"(set {ALLOW_PRIVATE_ENV}=1 to allow)",
            field="url",
        )


async def check_destination(raw: str, allow_private: bool) -> str:
    """:func:`check_url`, then (unless private addresses are allowed) the name's addresses."""
    url = check_url(raw, allow_private)
    if not allow_private:
        await check_resolves_public(url)
    return url


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default but drops blocked addresses (no DNS-rebinding tricks)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        infos = await self._inner.resolve(host, port, family)
        allowed = [i for i in infos if not blocked_address(str(i["host"]))]
        if not allowed:
            raise OSError(f"{host} resolves only to private, loopback or link-local addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()
