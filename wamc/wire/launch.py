"""What the daemon tells a worker at spawn about how to launch its browser (issue 11: the
per-client proxy). It travels on the worker's stdin after its secret, never on a command line or
in the environment: it may hold the proxy's password."""

from __future__ import annotations

import msgspec


class BrowserProxy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A browser's proxy: the server without credentials (Chromium's command line), and the
    credentials (the worker answers the proxy's 407 with them over the DevTools pipe)."""

    server: str
    username: str | None = None
    password: str | None = None
    # Chromium bypasses loopback by default; "<-loopback>" sends loopback (the simulator) through
    # the proxy too, so a proxy is never skipped silently.
    bypass: str = "<-loopback>"

    def credentials(self) -> tuple[str, str] | None:
        """(user, password) when the proxy has a user; None for an open proxy."""
        if self.username is None:
            return None
        return self.username, self.password or ""


class LaunchOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    proxy: BrowserProxy | None = None


_decoder = msgspec.json.Decoder(LaunchOptions)


def encode_launch(options: LaunchOptions) -> bytes:
    """One line of JSON (no newline inside: msgspec escapes them)."""
    return msgspec.json.encode(options)


def decode_launch(line: bytes | str) -> LaunchOptions:
    """The options line, or the defaults when it is empty (a daemon that sent none)."""
    raw = line.strip() if isinstance(line, bytes) else line.strip().encode()
    return _decoder.decode(raw) if raw else LaunchOptions()
