"""Placement: which node a client's worker runs on (Ray backend). Pure logic, no Ray.

The daemon counts slots, not Ray: a node offers ``wamc_slots`` clients; every client placed
there (starting or running) takes one. A new or restarted client goes to the node with the most
free slots, then the most available memory (in coarse steps, so two reports taken a moment apart
on similar machines do not flip the choice), ties broken by node id: the same inputs always give
the same node. Placement is sticky: a client goes back to its node while that node lives, is not
draining and has a slot for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

MEMORY_STEP = 512 * 1024 * 1024  # available memory compared in steps of this many bytes


@dataclass
class NodeView:
    """One node as placement sees it."""

    id: str
    slots: int  # its ``wamc_slots``
    alive: bool = True  # Ray reports it alive and its agent answered the handshake
    draining: bool = False  # no new clients; its clients are being moved off
    memory_available: int = 0  # bytes, as its agent last reported
    clients: set[str] = field(default_factory=set)  # clients holding a slot there

    @property
    def free(self) -> int:
        return max(0, self.slots - len(self.clients))

    @property
    def usable(self) -> bool:
        return self.alive and not self.draining and self.slots > 0


def rank(node: NodeView) -> tuple[int, int, str]:
    """Sort key: most free slots, then most available memory (in steps), then node id."""
    return (-node.free, -(node.memory_available // MEMORY_STEP), node.id)


def choose(
    nodes: Iterable[NodeView], sticky: str | None = None, avoid: str | None = None
) -> NodeView | None:
    """The node for one more client, or None (no free slot anywhere).

    ``sticky``: the node it ran on (kept while usable with a free slot); ``avoid``: a node it
    must leave (a move or a drain)."""
    usable = [n for n in nodes if n.usable and n.free > 0 and n.id != avoid]
    for node in usable:
        if node.id == sticky:
            return node
    return min(usable, key=rank, default=None)
