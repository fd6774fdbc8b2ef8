"""``wamc clients …``: one client at a time, through the running daemon's API."""

from __future__ import annotations

from typing import Any

import click

from wamc.cli.export import export
from wamc.cli.http import Api, check_id
from wamc.cli.output import duration, json_option, print_json, render_table, show, size
from wamc.cli.qr import show_qr


@click.group()
def clients() -> None:
    """Manage clients through the running daemon."""


def client_rows(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no clients"
    headers = ("id", "state", "me", "uptime", "restarts", "memory", "cpu", "pid", "last error")
    return render_table(
        headers,
        [
            (
                c["id"],
                c["state"],
                (c.get("me") or "").split("@")[0],
                duration(c.get("uptime_seconds")),
                c.get("restarts", 0),
                size(c.get("memory_bytes")),
                None if c.get("cpu_percent") is None else f"{c['cpu_percent']:.0f}%",
                c.get("pid"),
                c.get("last_error"),
            )
            for c in rows
        ],
    )


@clients.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """List clients and their states."""
    data = Api().call("GET", "/api/clients")
    show(data, as_json, lambda d: client_rows(d.get("clients", [])))


@clients.command("status")
@click.argument("client_id")
@json_option
def clients_status(client_id: str, as_json: bool) -> None:
    """Show a client's status."""
    data = Api().call("GET", f"/api/clients/{check_id(client_id)}/status")
    show(data, as_json, _status_table)


def _status_table(st: dict[str, Any]) -> str:
    return render_table(("field", "value"), [(k, v) for k, v in st.items()])


@clients.command("connect")
@click.argument("client_id")
def clients_connect(client_id: str) -> None:
    """Create (if new) and start a client."""
    print_json(Api().call("POST", f"/api/clients/{check_id(client_id)}/connect"))


@clients.command("disconnect")
@click.argument("client_id")
def clients_disconnect(client_id: str) -> None:
    """Stop a client's worker, keeping its session."""
    print_json(Api().call("POST", f"/api/clients/{check_id(client_id)}/disconnect"))


@clients.command("restart")
@click.argument("client_id")
def clients_restart(client_id: str) -> None:
    """Restart a client's worker (the session is kept)."""
    print_json(Api().call("POST", f"/api/clients/{check_id(client_id)}/restart"))


@clients.command("logout")
@click.argument("client_id")
def clients_logout(client_id: str) -> None:
    """Unlink the client's device from WhatsApp; it shows a new QR."""
    print_json(Api().call("POST", f"/api/clients/{check_id(client_id)}/logout"))


@clients.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clients_delete(client_id: str, yes: bool) -> None:
    """Delete a client: its session, messages, tokens and webhooks. Asks first."""
    check_id(client_id)
    api = Api()
    api.call("GET", f"/api/clients/{client_id}/status")  # a 404 before the question
    if not yes:
        click.confirm(
            f"Delete client {client_id} with its session, messages, tokens and webhooks?",
            abort=True,
        )
    print_json(api.call("DELETE", f"/api/clients/{client_id}"))


@clients.command("send")
@click.argument("client_id")
@click.argument("to")
@click.argument("text")
def clients_send(client_id: str, to: str, text: str) -> None:
    """Send a text message from CLIENT_ID to TO (phone number or chat id)."""
    print_json(
        Api().call(
            "POST", f"/api/clients/{check_id(client_id)}/send-message", {"to": to, "text": text}
        )
    )


@clients.command("qr")
@click.argument("client_id")
@click.option("--once", is_flag=True, help="Draw the current code once and exit.")
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=float,
    help="Give up after this many seconds without a link.",
)
def clients_qr(client_id: str, once: bool, timeout: float) -> None:
    """Draw the client's QR in the terminal; redraw it as WhatsApp rotates it, until linked."""
    show_qr(Api(), check_id(client_id), once, timeout)


clients.add_command(export)
