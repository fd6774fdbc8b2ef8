"""``wamc clients qr``: the QR drawn in the terminal (segno, two module rows per text line)."""

from __future__ import annotations

import io
import sys
import time

import click
import segno

from wamc.cli.http import Api, ApiError

CLEAR = "\x1b[H\x1b[2J"  # home + erase display: each new code replaces the last one
POLL_SECONDS = 1.0


def draw(payload: str) -> str:
    """The code as text: light modules are full blocks (for light-on-dark terminals, like
    ``qrencode -t UTF8``), with the quiet zone a phone needs. Same code as ``GET …/qr``."""
    buf = io.StringIO()
    segno.make(payload, error="l", micro=False).terminal(out=buf, compact=True, border=4)
    return buf.getvalue()


def show_qr(api: Api, client_id: str, once: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    shown: str | None = None
    tty = sys.stdout.isatty()
    while True:
        payload = _current(api, client_id)
        if payload is not None and payload != shown:
            prefix = CLEAR if tty and shown is not None else ""
            click.echo(prefix + draw(payload), nl=False)
            click.echo(
                f"client {client_id}: scan with WhatsApp → Linked devices → Link a device"
                + ("" if once else " (redrawn when the code changes; Ctrl-C to stop)")
            )
            shown = payload
            if once:
                return
        if payload is None and _linked_or_dead(api, client_id):
            return
        if time.monotonic() >= deadline:
            raise click.ClickException(f"client {client_id} was not linked within {timeout:g}s")
        time.sleep(POLL_SECONDS)


def _current(api: Api, client_id: str) -> str | None:
    try:
        data = api.call("GET", f"/api/clients/{client_id}/qr?format=json")
    except ApiError as exc:
        if exc.code == "no_qr":
            return None
        raise
    return str(data["qr"])


def _linked_or_dead(api: Api, client_id: str) -> bool:
    """True once linked; an error for a client that will not show a code by itself."""
    st = api.call("GET", f"/api/clients/{client_id}/status")
    if st["state"] == "connected":
        click.echo(f"client {client_id} is linked as {(st.get('me') or '?').split('@')[0]}")
        return True
    if st["state"] == "failed" or st.get("desired") == "stopped":
        why = f" ({st['last_error']})" if st.get("last_error") else ""
        raise click.ClickException(
            f"client {client_id} is {st['state']}{why}; start it: wamc clients connect {client_id}"
        )
    return False
