"""The daemon's core: client records, supervision, the worker link and what arrives on it.

registry (records, the state table) · supervision (loop, start slots, watchdog, recycler) ·
backend (local processes; proofs in proofs.py) · link (ZeroMQ ROUTER) · inbox (hello, delivery
numbers, acks, dead events) · ingest (event → store + bus in one transaction) · control (what the
API calls) · manager (the parts wired together, the API's face). Composed by wamc/serve.py.
Scale-out (WAMC_BACKEND=ray, docs/scale-out.md): placement (pure) · nodes (move, drain) ·
agent (a node's host agent) · ray_cluster and ray_backend (the only modules importing Ray).

Names are re-exported lazily, so importing one part does not load the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wamc.daemon.manager import ClientManager
    from wamc.daemon.registry import Client

__all__ = ["Client", "ClientManager"]


def __getattr__(name: str) -> Any:
    if name == "ClientManager":
        from wamc.daemon.manager import ClientManager

        return ClientManager
    if name == "Client":
        from wamc.daemon.registry import Client

        return Client
    raise AttributeError(f"module 'wamc.daemon' has no attribute {name!r}")
