"""The CLI's way to the daemon: its settings, its URL and key, and one HTTP call with clear errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import click

from wamc.config import Settings, SettingsError, load_settings


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


class ApiError(click.ClickException):
    """An answer other than 2xx: its status and problem ``code`` stay readable for callers."""

    def __init__(self, status: int, code: str | None, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.code = code


def daemon_url(s: Settings) -> str:
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::", "") else s.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{s.port}"


def fetch(
    url: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Any:
    """One JSON call; urllib's errors become ``ApiError`` (an answer) or ``OSError`` (none)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise _api_error(exc) from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, OSError) else OSError(str(exc.reason))
        raise reason from None


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    try:
        problem = json.loads(exc.read())
        detail = problem.get("detail") or problem.get("title") or problem.get("error")
        code = problem.get("code")
    except (ValueError, AttributeError):
        detail, code = exc.reason, None
    return ApiError(exc.code, code, str(detail))


class Api:
    """The running daemon's API, with the admin key (``WAMC_API_KEY`` or the generated one)."""

    def __init__(self, s: Settings | None = None) -> None:
        self.settings = s or settings()
        self.base = daemon_url(self.settings)
        self._key: str | None = None

    @property
    def key(self) -> str:
        if self._key is None:
            try:
                self._key = self.settings.ensure_api_key()
            except OSError as exc:
                raise click.ClickException(
                    f"cannot read the API key ({exc}); set WAMC_API_KEY or run as the "
                    "service's user"
                ) from None
        return self._key

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60
    ) -> Any:
        try:
            return fetch(self.base + path, method, body, {"X-Api-Key": self.key}, timeout)
        except (OSError, TimeoutError) as exc:
            raise click.ClickException(
                f"the wamc daemon does not answer at {self.base} ({exc}); is it running? "
                "(bash scripts/start.sh, or supervisorctl -c supervisord.conf status)"
            ) from None

    def system(self) -> dict[str, Any]:
        return dict(self.call("GET", "/api/system"))


def check_id(client_id: str) -> str:
    from wamc.validation import CLIENT_ID_HELP, is_client_id

    if not is_client_id(client_id):
        raise click.BadParameter(CLIENT_ID_HELP, param_hint="CLIENT_ID")
    return client_id
