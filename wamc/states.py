"""Client states (contract strings) and the one table of legal transitions. No imports of ours."""

from __future__ import annotations

from enum import StrEnum


class ClientState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    QR = "qr"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"


S = ClientState

# state -> states it may move to. Every state may go to STOPPED (operator stop) or
# STARTING (worker (re)spawned); the rest is what WhatsApp Web can do. Staying in a state is no
# transition (nothing is stored or published), so no state lists itself.
TRANSITIONS: dict[ClientState, frozenset[ClientState]] = {
    S.STOPPED: frozenset({S.STARTING, S.FAILED}),
    S.STARTING: frozenset({S.STOPPED, S.QR, S.CONNECTED, S.DISCONNECTED, S.FAILED}),
    S.QR: frozenset({S.STOPPED, S.STARTING, S.CONNECTED, S.DISCONNECTED, S.FAILED}),
    S.CONNECTED: frozenset({S.STOPPED, S.STARTING, S.QR, S.DISCONNECTED, S.FAILED}),
    S.DISCONNECTED: frozenset({S.STOPPED, S.STARTING, S.QR, S.CONNECTED, S.FAILED}),
    S.FAILED: frozenset({S.STOPPED, S.STARTING}),
}

# States in which a worker process is expected to exist.
RUNNING_STATES = frozenset({S.STARTING, S.QR, S.CONNECTED, S.DISCONNECTED})


def can_transition(old: ClientState, new: ClientState) -> bool:
    return old == new or new in TRANSITIONS[old]
