"""The analytics answers (``GET /api/stats``, ``GET /api/clients/{id}/stats``) as OpenAPI schemas.

Beside wamc/validation.py (which holds the other API models) to keep that module within its
size limit; wamc/api/openapi.py lists these with the others.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class StatsCounts(_Out):
    """Sums over an hour, a UTC day or the whole period."""

    messages_in: int = Field(examples=[120], description="messages received (stored)")
    messages_out: int = Field(
        examples=[80], description="messages sent from the account (through wamc or the phone)"
    )
    send_failures: int = Field(
        examples=[1],
        description="sends through the API that did not go out: not_connected, "
        "worker_unavailable, worker_timeout, whatsapp_error, no_qr, send_queue_full, "
        "shutting_down (malformed requests are not counted)",
    )
    restarts: int = Field(examples=[0], description="worker restarts counted by supervision")
    connected_seconds: float = Field(description="time connected while desired running")
    desired_seconds: float = Field(description="time desired running (while the daemon ran)")
    uptime_percent: float | None = Field(
        examples=[99.5],
        description="connected_seconds / desired_seconds × 100; null when never desired running",
    )


class StatsBucket(StatsCounts):
    start: str = Field(examples=["2026-11-30T00:00:00Z"], description="the bucket's start (UTC)")


class StatsWindow(_Out):
    days: int = Field(examples=[30], description="UTC days covered, today included")
    bucket: Literal["hour", "day"]
    since: str = Field(examples=["2026-11-01T00:00:00Z"], description="start of the first bucket")
    until: str = Field(
        examples=["2026-12-01T00:00:00Z"], description="end of the last (current) bucket"
    )
    totals: StatsCounts
    buckets: list[StatsBucket] = Field(description="every bucket of the period, oldest first")


class ClientStats(StatsWindow):
    client: str = Field(examples=["acme"])


class ClientStatsSummary(StatsCounts):
    client: str = Field(examples=["acme"])


class OverallStats(StatsWindow):
    clients: list[ClientStatsSummary] = Field(description="each client's totals, by id")


MODELS: tuple[type[BaseModel], ...] = (
    StatsCounts,
    StatsBucket,
    ClientStats,
    ClientStatsSummary,
    OverallStats,
)
