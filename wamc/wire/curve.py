"""CurveZMQ keys of the daemon⇄worker link over TCP (between hosts the wire is encrypted).

A worker's Curve key pair is derived from the secret the daemon gave it at spawn (stdin, never a
command line, an environment or an actor argument): nothing more has to reach the worker, and the
daemon keeps only the public half (to recognise the worker at the handshake, also after adopting
it). The daemon's own key pair lives 0600 under ``sessions/.wamc/``; workers get its public half.
Over ipc (one host, a 0700 folder) the link stays PLAIN: the kernel is the boundary there.
"""

from __future__ import annotations

import hashlib

import zmq
from zmq.utils import z85

_CONTEXT = b"wamc-curve-worker-v1:"


def is_remote(endpoint: str) -> bool:
    """Endpoints that leave the host's filesystem: encrypted with Curve."""
    return endpoint.startswith("tcp://")


def worker_keys(secret: str) -> tuple[bytes, bytes]:
    """(public, secret) Z85 Curve keys of the worker spawned with ``secret``."""
    private = z85.encode(hashlib.sha256(_CONTEXT + secret.encode()).digest())
    return zmq.curve_public(private), private


def public_from_handshake(raw: bytes) -> str | None:
    """The Z85 text of the 32-byte public key a ZAP request carries (None if it is not one)."""
    return z85.encode(raw).decode() if len(raw) == 32 else None
