"""The worker's Chromium command line (workers/chromium.py): the memory flags as measured, and
nothing on it that other local users may not see."""

from __future__ import annotations

from pathlib import Path

from wamc.wire.launch import BrowserProxy
from wamc.wire.process import browser_cmdline_matches
from workers import chromium

EXE = "/nonexistent/chromium"  # its version cannot be read: the default major


def test_one_enable_features_switch_with_the_network_service_in_process(tmp_path: Path) -> None:
    """Chromium honours only the last ``--enable-features``: there must be exactly one."""
    argv = chromium.command_line(EXE, tmp_path / "profile", None)
    switches = [a for a in argv if a.startswith("--enable-features=")]
    assert switches == ["--enable-features=NetworkServiceInProcess2"]
    assert len([a for a in argv if a.startswith("--disable-features=")]) == 1


def test_no_renderer_heap_limit(tmp_path: Path) -> None:
    """A V8 heap cap would crash the page of a large account: only the size mode is set."""
    argv = chromium.command_line(EXE, tmp_path / "profile", None)
    assert [a for a in argv if a.startswith("--js-flags=")] == ["--js-flags=--optimize-for-size"]
    assert not any("max-old-space" in a for a in argv)


def test_the_proxy_password_never_reaches_the_command_line(tmp_path: Path) -> None:
    proxy = BrowserProxy("http://127.0.0.1:3128", "gw-user", "pw-S3cret")
    argv = chromium.command_line(EXE, tmp_path / "profile", proxy)
    assert "--proxy-server=http://127.0.0.1:3128" in argv
    assert "--proxy-bypass-list=<-loopback>" in argv
    assert not any("S3cret" in a or "gw-user" in a for a in argv)


def test_the_browser_is_found_again_by_its_profile(tmp_path: Path) -> None:
    """The daemon proves a pid is this client's Chromium by its ``--user-data-dir``."""
    profile = tmp_path / "sessions" / "a" / "profile"
    argv = chromium.command_line(EXE, profile, None)
    assert browser_cmdline_matches(argv, profile)
    assert argv[-2:] == ["--remote-debugging-pipe", "about:blank"]
    assert ("--no-sandbox" in argv) == (not chromium.use_sandbox())
    assert ("--no-zygote" in argv) == ("--no-sandbox" in argv)  # the sandbox needs its zygote
    agent = next(a for a in argv if a.startswith("--user-agent="))
    assert "Headless" not in agent and "Chrome/140.0.0.0" in agent
