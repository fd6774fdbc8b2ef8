"""``wamc``: the command line. Clear errors, never tracebacks, for a down daemon or bad input."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

import click

from wamc.config import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(package_name="wamc")
def main() -> None:
    """wamc: a self-hosted WhatsApp multi-client gateway."""


@main.command()
def serve() -> None:
    """Run the daemon: gateway, workers' supervisor and store."""
    from wamc.serve import DaemonError, run

    settings = _settings()
    try:
        run(settings)
    except DaemonError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@main.command()
def shutdown() -> None:
    """Stop every worker, then the daemon (a plain SIGTERM leaves workers for the next daemon)."""
    _print(Api(_settings()).call("POST", "/api/shutdown"))


@main.command("api-key")
def api_key() -> None:
    """Print the admin API key (generated on first use)."""
    click.echo(_settings().ensure_api_key())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4100, show_default=True, type=int)
@click.option("--qr-first-ttl", default=60.0, show_default=True, type=float)
@click.option("--qr-ttl", default=20.0, show_default=True, type=float)
@click.option("--max-qr-codes", default=6, show_default=True, type=int)
@click.option(
    "--weight",
    type=click.Choice(["light", "heavy"]),
    default="light",
    show_default=True,
    help="heavy: a WhatsApp-weight page (multi-MB bundle, 20,000 messages; docs/simulator.md)",
)
def simulator(
    host: str, port: int, qr_first_ttl: float, qr_ttl: float, max_qr_codes: int, weight: str
) -> None:
    """Run the local WhatsApp Web simulator (for tests and demos without a phone)."""
    from wamc.simulator import run_simulator

    run_simulator(
        host,
        port,
        qr_first_ttl=qr_first_ttl,
        qr_ttl=qr_ttl,
        max_qr_codes=max_qr_codes,
        weight=weight,
    )


class Api:
    def __init__(self, settings: Settings) -> None:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        self.base = f"http://{host}:{settings.port}"
        self.key = settings.ensure_api_key()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("X-Api-Key", self.key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                problem = json.loads(exc.read())
                detail = problem.get("detail") or problem.get("title")
            except (ValueError, AttributeError):
                detail = exc.reason
            raise click.ClickException(f"{exc.code}: {detail}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise click.ClickException(
                f"the wamc daemon does not answer at {self.base} ({getattr(exc, 'reason', exc)}); "
                "is it running? (supervisorctl -c supervisord.conf status)"
            ) from None


def _print(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


@main.group()
def clients() -> None:
    """Manage clients through the running daemon."""


@clients.command("list")
def clients_list() -> None:
    """List clients and their states."""
    data = Api(_settings()).call("GET", "/api/clients")
    rows = data.get("clients", [])
    if not rows:
        click.echo("no clients")
    for c in rows:
        click.echo(
            f"{c['id']:<24} {c['state']:<13} pid={c.get('pid') or '-':<8} me={c.get('me') or '-'}"
        )


@clients.command("connect")
@click.argument("client_id")
def clients_connect(client_id: str) -> None:
    """Create (if new) and start a client."""
    _print(Api(_settings()).call("POST", f"/api/clients/{_check_id(client_id)}/connect"))


@clients.command("disconnect")
@click.argument("client_id")
def clients_disconnect(client_id: str) -> None:
    """Stop a client's worker, keeping its session."""
    _print(Api(_settings()).call("POST", f"/api/clients/{_check_id(client_id)}/disconnect"))


@clients.command("status")
@click.argument("client_id")
def clients_status(client_id: str) -> None:
    """Show a client's status."""
    _print(Api(_settings()).call("GET", f"/api/clients/{_check_id(client_id)}/status"))


@clients.command("send")
@click.argument("client_id")
@click.argument("to")
@click.argument("text")
def clients_send(client_id: str, to: str, text: str) -> None:
    """Send a text message from CLIENT_ID to TO (phone number or chat id)."""
    _print(
        Api(_settings()).call(
            "POST", f"/api/clients/{_check_id(client_id)}/send-message", {"to": to, "text": text}
        )
    )


def _check_id(client_id: str) -> str:
    from wamc.validation import CLIENT_ID_HELP, is_client_id

    if not is_client_id(client_id):
        raise click.BadParameter(CLIENT_ID_HELP, param_hint="CLIENT_ID")
    return client_id


if __name__ == "__main__":
    sys.exit(main())
