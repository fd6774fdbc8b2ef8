"""Who is calling, by address: the socket peer, or the client a trusted proxy names.

``X-Forwarded-For`` is believed only when the peer is in ``WAMC_TRUSTED_PROXIES``
(comma-separated IPs or CIDRs); then the right-most address that is not itself a trusted proxy
is the client. Anyone else could write any address there.
"""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` → networks; ValueError naming the bad entry."""
    nets = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"WAMC_TRUSTED_PROXIES: {part!r} is not an IP address or CIDR"
            ) from None
    return tuple(nets)


@functools.lru_cache(maxsize=4096)  # parsed once per address, not per request (immutable)
def _ip(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(raw.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Network, ...]) -> bool:
    return any(ip.version == n.version and ip in n for n in nets)


def forwarded_client(peer: str, forwarded_for: str | None, nets: tuple[Network, ...]) -> str:
    """The client address for a request from ``peer`` carrying this ``X-Forwarded-For``."""
    peer_ip = _ip(peer)
    if peer_ip is None or not nets or not forwarded_for or not _trusted(peer_ip, nets):
        return _text(peer_ip) if peer_ip is not None else peer
    client = peer_ip
    for hop in reversed(forwarded_for.split(",")):
        ip = _ip(hop)
        if ip is None:
            break  # garbage: trust nothing further left
        client = ip
        if not _trusted(ip, nets):
            break
    return _text(client)


@functools.lru_cache(maxsize=4096)
def _text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return str(ip)


def client_address(request: web.Request, nets: tuple[Network, ...]) -> str:
    peer = None
    if request.transport is not None:
        info = request.transport.get_extra_info("peername")
        if isinstance(info, tuple | list) and info:
            peer = str(info[0])
    peer = peer or request.remote or "unknown"
    return forwarded_client(peer, request.headers.get("X-Forwarded-For"), nets)
