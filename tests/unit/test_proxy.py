"""The proxy setting's checks and its trip to the worker (issue 11, item 10): pure functions."""

from __future__ import annotations

import pytest

from wamc.errors import Refused
from wamc.validation.proxy import masked_proxy, parse_proxy
from wamc.wire.launch import BrowserProxy, LaunchOptions, decode_launch, encode_launch


def test_parse_proxy_splits_server_and_credentials() -> None:
    p = parse_proxy("http://us%40er:p%3Ass@Proxy.Example.net:3128")
    assert (p.server, p.username, p.password) == ("http://proxy.example.net:3128", "us@er", "p:ss")
    assert p.masked() == "http://us%40er:****@proxy.example.net:3128"
    assert parse_proxy("https://10.0.0.1").server == "https://10.0.0.1:443"
    assert parse_proxy("socks5://[::1]").server == "socks5://[::1]:1080"
    assert parse_proxy("HTTP://h:80/").server == "http://h:80"
    assert not parse_proxy("http://h:80").has_credentials


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "invalid_proxy"),
        ("socks4://h:1080", "invalid_proxy"),
        ("http://h:80/x", "invalid_proxy"),
        ("http://h:80#f", "invalid_proxy"),
        ("http://h:80?", "invalid_proxy"),
        ("http://h:x", "invalid_proxy"),
        ("http://h\n:80", "invalid_proxy"),
        ("http://-h:80", "invalid_proxy"),
        ("http://:secret@:80", "invalid_proxy"),
        ("socks5://:secret@h:1080", "proxy_auth_unsupported"),
    ],
)
def test_parse_proxy_refuses_without_echoing_credentials(value: str, code: str) -> None:
    with pytest.raises(Refused) as err:
        parse_proxy(value)
    assert err.value.code == code and err.value.field == "proxy"
    assert "secret" not in err.value.detail


def test_masked_proxy_never_shows_the_password() -> None:
    assert masked_proxy(None) is None
    assert masked_proxy("http://u:topsecret@h:1") == "http://u:****@h:1"
    assert masked_proxy("ftp://u:topsecret@h") == "****"  # stored under other rules


def test_launch_options_round_trip_on_one_line() -> None:
    opts = LaunchOptions(proxy=BrowserProxy("http://h:1", "u", "p\nq"))
    line = encode_launch(opts)
    assert b"\n" not in line
    assert decode_launch(line + b"\n") == opts
    assert decode_launch(b"") == LaunchOptions()  # an older daemon wrote no such line
    assert opts.proxy is not None
    assert opts.proxy.bypass == "<-loopback>"  # the simulator on loopback goes through it too
    assert opts.proxy.credentials() == ("u", "p\nq")
    assert BrowserProxy("http://h:1").credentials() is None
