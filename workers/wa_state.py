"""Map a WhatsApp Web snapshot (from bridge.js) to a client state. Pure logic."""

from __future__ import annotations

from typing import Any

from wamc.states import ClientState


def derive_state(snapshot: dict[str, Any], was_connected: bool) -> ClientState:
    """``connected`` needs authentication *and* the stream in MAIN mode.

    ``conn.main_ready`` also fires in QR mode, so it is never taken as "logged in".
    """
    if not snapshot.get("ready"):
        return ClientState.STARTING
    if snapshot.get("authenticated"):
        if snapshot.get("mode") == "MAIN":
            return ClientState.CONNECTED
        return ClientState.DISCONNECTED if was_connected else ClientState.STARTING
    if snapshot.get("qr"):
        return ClientState.QR
    return ClientState.DISCONNECTED if was_connected else ClientState.STARTING
