"""The daemon's CurveZMQ key pair (TCP links only), made once and kept 0600 in
``sessions/.wamc/curve-server.key``: workers that outlive a daemon restart still trust it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import zmq

FILE_NAME = "curve-server.key"


def load_or_create(state_dir: Path) -> tuple[bytes, bytes]:
    """(public, secret) Z85; a missing or damaged file is replaced by a new pair."""
    path = state_dir / FILE_NAME
    with contextlib.suppress(OSError, ValueError):
        public, secret = path.read_bytes().split()
        if zmq.curve_public(secret) == public:
            return public, secret
    public, secret = zmq.curve_keypair()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(public + b"\n" + secret + b"\n")
    os.replace(tmp, path)
    return public, secret
