"""What the daemon tells a worker at spawn about how to launch its browser (issue 11: the
per-client proxy). It travels on the worker's stdin after its secret, never on a command line or
in the environment: it may hold the proxy's password."""

from __future__ import annotations

import msgspec


class BrowserProxy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Playwright's ``proxy`` launch option: the server without credentials, and the credentials."""

    server: str
    username: str | None = None
    password: str | None = None
    # Chromium bypasses loopback by default; "<-loopback>" sends loopback (the simulator) through
    # the proxy too, so a proxy is never skipped silently.
    bypass: str = "<-loopback>"

    def playwright(self) -> dict[str, str]:
        out = {"server": self.server, "bypass": self.bypass}
        if self.username is not None:
            out["username"] = self.username
        if self.password is not None:
            out["password"] = self.password
        return out


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
