"""Pure guards of the gateway (issue 9): webhook destinations, stream tickets, per-address limit."""

from __future__ import annotations

import pytest

from wamc.errors import ApiError
from wamc.webhooks import blocked_address, check_url


@pytest.mark.parametrize(
    "addr",
    [
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
        "2002:0a00:0001::",  # 6to4 of 10.0.0.1
        "fec0::1",  # site-local
        "fec0:1234::5",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",
        "100.64.0.1",
        "192.0.0.1",
        "198.18.0.1",  # benchmarking
        "240.0.0.1",
        "ff02::1",
        "224.0.0.1",
        "::",
        "0.0.0.0",
        "not an address",
    ],
)
def test_ssrf_guard_refuses_non_global_and_tunnelled_private(addr: str) -> None:
    assert blocked_address(addr), addr


@pytest.mark.parametrize(
    "addr", ["93.184.216.34", "2606:4700::1111", "2002:0808:0808::1", "::ffff:8.8.8.8"]
)
def test_ssrf_guard_allows_global(addr: str) -> None:
    assert not blocked_address(addr), addr


def test_check_url_refuses_tunnelled_literals() -> None:
    for url in ("http://[2002:7f00:1::1]/x", "http://[fec0::1]:8080/", "http://[::ffff:7f00:1]/"):
        with pytest.raises(ApiError) as exc:
            check_url(url, False)
        assert exc.value.code == "webhook_url_refused"
