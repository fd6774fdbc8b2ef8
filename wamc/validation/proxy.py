"""A client's outbound proxy (issue 11): ``http://``, ``https://`` or ``socks5://``, with optional
credentials for the HTTP kinds. Pure checks; the credentials never appear in a refusal's detail.

Chromium cannot authenticate to a SOCKS5 proxy, so a ``socks5://`` URL with a username or
password is refused (422) rather than silently used without them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from wamc.errors import Refused

MAX_PROXY_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080}
MASK = "****"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*$")
HELP = "a proxy is scheme://[user:password@]host[:port] with scheme http, https or socks5"


@dataclass(frozen=True)
class Proxy:
    scheme: str
    host: str  # IPv6 literals without brackets
    port: int
    username: str | None
    password: str | None

    @property
    def server(self) -> str:
        """The URL without credentials (what Chromium's ``--proxy-server`` gets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    def masked(self) -> str:
        """The URL to show: the password replaced by ``****``."""
        if not self.has_credentials:
            return self.server
        user = quote(self.username or "", safe="")
        return self.server.replace("://", f"://{user}:{MASK}@", 1)


def _bad(detail: str) -> Refused:
    return Refused("invalid_proxy", f"{detail} ({HELP})", field="proxy")


def _host(raw: str | None) -> str:
    host = (raw or "").rstrip(".")
    if not host:
        raise _bad("the proxy has no host")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise _bad("the proxy's host is not a host name or an IP address")
    return host.lower()


def parse_proxy(value: str) -> Proxy:
    """The proxy ``value`` names, or ``invalid_proxy`` (400) / ``proxy_auth_unsupported`` (422)."""
    if not isinstance(value, str) or not value or len(value) > MAX_PROXY_LENGTH:
        raise _bad(f"the proxy must be a URL of 1-{MAX_PROXY_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _bad("the proxy URL holds spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _bad("the proxy URL is malformed or its port is not 1-65535") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _bad("the proxy's scheme must be http, https or socks5")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value:
        raise _bad("the proxy URL has a path, query or fragment")
    if port == 0:
        raise _bad("the proxy's port must be 1-65535")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    proxy = Proxy(scheme, _host(parts.hostname), port or DEFAULT_PORTS[scheme], username, password)
    if scheme == "socks5" and proxy.has_credentials:
        raise Refused(
            "proxy_auth_unsupported",
            "Chromium cannot authenticate to a SOCKS5 proxy: use one without a username and "
            "password (e.g. allowed by address), or an HTTP proxy",
            field="proxy",
        )
    return proxy


def masked_proxy(value: str | None) -> str | None:
    """A stored proxy as it may be shown (never its password); None stays None."""
    if value is None:
        return None
    try:
        return parse_proxy(value).masked()
    except Refused:
        return MASK  # stored by a version with other rules: show nothing of it
