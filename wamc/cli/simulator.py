"""``wamc simulator``: run the WhatsApp Web simulator, or play a phone on the one the daemon uses.

The daemon's ``GET /api/system`` names the WhatsApp URL in use; when that is the simulator, its
``/control/`` API (wamc/simulator/control.py) scans QR codes and delivers messages.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import click

from wamc.cli.http import Api, ApiError, check_id, fetch
from wamc.cli.output import print_json
from wamc.config import DEFAULT_WHATSAPP_URL

MSG_KEY = re.compile(r"^(true|false)_(\d{5,20})@c\.us_[0-9A-Za-z]+$")


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=4100,
    show_default=True,
    type=int,
    envvar="WAMC_SIMULATOR_PORT",
    show_envvar=True,
    help="Port to listen on.",
)
@click.option(
    "--qr-first-ttl",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds the first QR lives.",
)
@click.option(
    "--qr-ttl", default=20.0, show_default=True, type=float, help="Seconds each next QR lives."
)
@click.option(
    "--max-qr-codes",
    default=6,
    show_default=True,
    type=int,
    help="QR codes shown before the page idles (WhatsApp's 'click to reload').",
)
@click.option(
    "--weight",
    type=click.Choice(["light", "heavy"]),
    default="light",
    show_default=True,
    help="heavy: a WhatsApp-weight page (multi-MB bundle, 20,000 messages; docs/simulator.md)",
)
@click.pass_context
def simulator(
    ctx: click.Context,
    host: str,
    port: int,
    qr_first_ttl: float,
    qr_ttl: float,
    max_qr_codes: int,
    weight: str,
) -> None:
    """Run the local WhatsApp Web simulator in the foreground (for tests and demos without a
    phone); its subcommands play the phone on the simulator the running daemon uses
    (bash scripts/start.sh --simulator runs one under supervisord)."""
    if ctx.invoked_subcommand is not None:
        return
    from wamc.simulator import run_simulator

    run_simulator(
        host,
        port,
        qr_first_ttl=qr_first_ttl,
        qr_ttl=qr_ttl,
        max_qr_codes=max_qr_codes,
        weight=weight,
    )


class Phone:
    """The daemon's API and the control API of the simulator it uses."""

    def __init__(self) -> None:
        self.api = Api()
        url = str(self.api.system()["whatsapp_url"])
        if url.rstrip("/") == DEFAULT_WHATSAPP_URL.rstrip("/"):
            raise click.ClickException(
                f"the daemon at {self.api.base} uses the real WhatsApp ({url}), not the "
                "simulator; start it with: bash scripts/stop.sh --all && "
                "bash scripts/start.sh --simulator"
            )
        self.base = url.rstrip("/")

    def control(self, path: str, body: dict[str, Any]) -> Any:
        try:
            return fetch(f"{self.base}/control/{path}", "POST", body, timeout=30)
        except ApiError as exc:
            raise click.ClickException(f"simulator: {exc.message}") from None
        except OSError as exc:
            raise click.ClickException(
                f"the simulator does not answer at {self.base} ({exc}); is it running? "
                "(supervisorctl -c supervisord.conf status simulator)"
            ) from None

    def phone_of(self, client_id: str) -> str:
        st = self.api.call("GET", f"/api/clients/{check_id(client_id)}/status")
        if not st.get("me"):
            raise click.ClickException(
                f"client {client_id} is {st['state']} and not linked to a phone; link it: "
                f"wamc simulator scan {client_id}"
            )
        return str(st["me"]).split("@")[0]


def default_phone(client_id: str) -> str:
    """A stable 13-digit number per client id, so a repeated scan is the same phone."""
    digits = int(hashlib.sha256(client_id.encode()).hexdigest(), 16) % 10**9
    return f"5500{digits:09d}"


def _wait_qr(phone: Phone, client_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(phone.api.call("GET", f"/api/clients/{client_id}/qr?format=json")["qr"])
        except ApiError as exc:
            if exc.code != "no_qr" or time.monotonic() >= deadline:
                raise
        time.sleep(0.5)


@simulator.command("scan")
@click.argument("client_id")
@click.option("--phone", help="The phone number that scans (digits); default: one per client.")
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds to wait for a QR, then for the link.",
)
def sim_scan(client_id: str, phone: str | None, timeout: float) -> None:
    """Scan CLIENT_ID's QR code with a simulated phone, and wait until it is connected."""
    sim = Phone()
    check_id(client_id)
    number = phone or default_phone(client_id)
    result = sim.control("scan", {"qr": _wait_qr(sim, client_id, timeout), "phone": number})
    deadline = time.monotonic() + timeout
    while (st := sim.api.call("GET", f"/api/clients/{client_id}/status"))["state"] != "connected":
        if time.monotonic() >= deadline:
            raise click.ClickException(f"client {client_id} is still {st['state']}")
        time.sleep(0.5)
    print_json({"client": client_id, "phone": number, "device_id": result.get("device_id")})


@simulator.command("deliver")
@click.argument("client_id")
@click.option("--from", "sender", required=True, help="The contact's phone number (digits).")
@click.option("--text", required=True, help="The message text.")
def sim_deliver(client_id: str, sender: str, text: str) -> None:
    """A contact sends CLIENT_ID's phone a text message."""
    sim = Phone()
    body = {"to": sim.phone_of(client_id), "from": sender, "body": text, "type": "chat"}
    print_json(sim.control("messages", body))


@simulator.command("revoke")
@click.argument("client_id")
@click.option("--id", "msg_id", required=True, help="The id `deliver` printed.")
def sim_revoke(client_id: str, msg_id: str) -> None:
    """The contact who sent message ID deletes it for everyone."""
    sim = Phone()
    print_json(sim.control("revoke", {"phone": sim.phone_of(client_id), "id": msg_id}))


@simulator.command("react")
@click.argument("client_id")
@click.option("--id", "msg_id", required=True, help="A message id like false_<phone>@c.us_<id>.")
@click.option("--emoji", default="👍", show_default=True, help="The reaction; '' removes it.")
def sim_react(client_id: str, msg_id: str, emoji: str) -> None:
    """The contact of message ID's chat reacts to it."""
    match = MSG_KEY.match(msg_id)
    if match is None:
        raise click.BadParameter("a message id like false_<phone>@c.us_<id>", param_hint="--id")
    sim = Phone()
    body = {"phone": sim.phone_of(client_id), "id": msg_id, "reaction": emoji}
    print_json(sim.control("reaction", {**body, "from": match.group(2)}))


@simulator.command("logout")
@click.argument("client_id")
@click.option("--reason", default=None, help="WhatsApp's logout reason (default: the phone's).")
def sim_logout(client_id: str, reason: str | None) -> None:
    """The phone unlinks CLIENT_ID's device (Linked devices → Log out); a new QR follows."""
    sim = Phone()
    body: dict[str, Any] = {"phone": sim.phone_of(client_id)}
    if reason:
        body["reason"] = reason
    print_json(sim.control("logout", body))
