"""Pure guards of the gateway (issue 9): webhook destinations, stream tickets, per-address limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from wamc.api.addresses import forwarded_client, parse_networks
from wamc.errors import Refused
from wamc.security import (
    MAX_TICKETS_PER_KEY,
    AuthFailureLimiter,
    Principal,
    StreamTickets,
    Throttled,
)
from wamc.webhooks import blocked_address, check_url


@pytest.mark.parametrize(
    "addr",
    [
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
        "2002:0a00:0001::",  # 6to4 of 10.0.0.1
        "fec0::1",  # site-local
        "fec0:1234::5",
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "64:ff9b:1::a00:1",  # local-use NAT64
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
        with pytest.raises(Refused) as exc:
            check_url(url, False)
        assert exc.value.code == "webhook_url_refused"


# --- stream tickets ---------------------------------------------------------------------------------


class _Tokens:
    def __init__(self, active: set[str]) -> None:
        self.ids = active

    def active(self, key_id: str) -> bool:
        return key_id in self.ids


def test_tickets_are_single_use_expire_and_die_with_their_token() -> None:
    tokens = _Tokens({"admin", "tok_1"})
    tickets = StreamTickets(tokens, ttl=30)  # type: ignore[arg-type]
    who = Principal("tok_1", "acme", frozenset({"read"}))
    t = tickets.issue(who, now=100.0)
    assert t.startswith("wst_") and len(t) > 40
    assert tickets.redeem(t, now=129.0) == who  # identity and scopes travel with it
    assert tickets.redeem(t, now=129.0) is None  # once
    late = tickets.issue(who, now=100.0)
    assert tickets.redeem(late, now=130.0) is None  # 30 s
    revoked = tickets.issue(who, now=100.0)
    tokens.ids.discard("tok_1")
    assert tickets.redeem(revoked, now=101.0) is None
    for bad in (None, "", "wst_nope", "x" * 200, "wamc_notaticket"):
        assert tickets.redeem(bad, now=101.0) is None


def test_one_keys_unused_tickets_do_not_lock_out_the_others() -> None:
    tickets = StreamTickets(_Tokens({"admin", "tok_1"}), ttl=30)  # type: ignore[arg-type]
    hog = Principal("tok_1", "acme", frozenset({"read"}))
    for _ in range(MAX_TICKETS_PER_KEY):
        tickets.issue(hog, now=0.0)
    with pytest.raises(Refused):
        tickets.issue(hog, now=0.0)
    admin = Principal("admin", None, frozenset())
    assert tickets.redeem(tickets.issue(admin, now=0.0), now=1.0) == admin


# --- addresses and the failed sign-in limit ---------------------------------------------------------


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    nets = parse_networks("10.0.0.1, 192.168.0.0/16, ::1")
    assert forwarded_client("8.8.8.8", "1.2.3.4", nets) == "8.8.8.8"  # not a proxy: ignored
    assert forwarded_client("10.0.0.1", "1.2.3.4", nets) == "1.2.3.4"
    # The right-most address that is not a trusted proxy; what a client wrote further left is
    # not believed.
    assert forwarded_client("10.0.0.1", "6.6.6.6, 1.2.3.4, 192.168.1.5", nets) == "1.2.3.4"
    assert forwarded_client("10.0.0.1", "garbage, 1.2.3.4", nets) == "1.2.3.4"
    assert forwarded_client("10.0.0.1", "1.2.3.4, garbage", nets) == "10.0.0.1"
    assert forwarded_client("10.0.0.1", None, nets) == "10.0.0.1"
    assert forwarded_client("::ffff:10.0.0.1", "1.2.3.4", nets) == "1.2.3.4"
    assert forwarded_client("10.0.0.1", "1.2.3.4", ()) == "10.0.0.1"
    with pytest.raises(ValueError, match="WAMC_TRUSTED_PROXIES"):
        parse_networks("10.0.0.1, nonsense")


def test_failed_sign_in_limit_per_address() -> None:
    lim = AuthFailureLimiter(per_minute=3)
    for _ in range(3):
        lim.check("1.1.1.1", now=0.0)
        lim.failed("1.1.1.1", now=0.0)
    with pytest.raises(Throttled) as exc:
        lim.check("1.1.1.1", now=0.0)
    assert exc.value.code == "rate_limited" and exc.value.retry_after == 20
    lim.check("2.2.2.2", now=0.0)  # another address is not affected
    lim.check("1.1.1.1", now=20.0)  # refilled: one more try
    lim.failed("1.1.1.1", now=20.0)
    with pytest.raises(Throttled):
        lim.check("1.1.1.1", now=21.0)
    AuthFailureLimiter(per_minute=0).check("1.1.1.1")  # 0 disables


def test_failed_sign_ins_from_one_ipv6_64_count_together_and_the_table_is_bounded() -> None:
    lim = AuthFailureLimiter(per_minute=2)
    lim.failed("2001:db8:1:2::1", now=0.0)
    lim.failed("2001:db8:1:2:ffff::9", now=0.0)  # same /64: rotating does not help
    with pytest.raises(Throttled):
        lim.check("2001:db8:1:2::77", now=0.0)
    lim.check("2001:db8:1:3::1", now=0.0)  # the next /64 is another party
    lim.MAX_ADDRESSES = 100
    for i in range(500):
        lim.failed(f"10.0.{i // 250}.{i % 250}", now=1.0)
    assert len(lim._buckets) == 100


def test_dashboard_never_puts_the_key_in_a_url() -> None:
    pages = Path(__file__).resolve().parents[2] / "wamc/dashboard"
    for name in ["static/app.js", "static/common.js", "portal/portal.js"]:
        assert "api_key" not in (pages / name).read_text(), name
    # The stream (common.js, shared by the dashboard and the portal) opens with a ticket.
    js = (pages / "static/common.js").read_text()
    assert "/api/stream-tickets" in js and "?ticket=" in js
