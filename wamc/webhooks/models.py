"""A webhook's configuration: the request body that sets it (validated) and the record kept."""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wamc.events.catalog import EVENT_NAMES
from wamc.storage import webhooks as rows

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
    | {"webhook-id", "webhook-timestamp", "webhook-signature"}  # Standard Webhooks, signed
)
# A pending row older than its hook's retry span (doubled, at least this) is dead-lettered: it
# stays visible and re-deliverable, never silently dropped.
PENDING_HORIZON_FLOOR = 24 * 3600.0


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=10, ge=1, le=50)
    backoff_base: float = Field(default=2.0, ge=0.01, le=3600)
    backoff_max: float = Field(default=900.0, ge=0.01, le=86400)


class WebhookIn(BaseModel):
    """POST body (every field) and PATCH body (any subset)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] | None = Field(
        default=None, description="event names to send; null or absent: all"
    )
    secret: str | None = Field(
        default=None, min_length=16, max_length=256, description="generated when absent"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: float = Field(default=10.0, gt=0, le=60)
    enabled: bool = True

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        unknown = sorted(set(v) - EVENT_NAMES)
        if unknown:
            raise ValueError(
                f"unknown event {unknown[0]!r}; known: {', '.join(sorted(EVENT_NAMES))}"
            )
        if not v:
            raise ValueError("give at least one event name, or null for all")
        return sorted(set(v))

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 20:
            raise ValueError("at most 20 custom headers")
        for name, value in v.items():
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name[:64]!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS or name.lower().startswith("x-wamc-"):
                raise ValueError(f"header {name!r} is set by wamc")
            if len(value) > 1024 or any(c in value for c in "\r\n\0"):
                raise ValueError(f"invalid value for header {name!r}")
        return v


@dataclass
class Webhook:
    id: str
    client: str | None
    url: str
    events: frozenset[str] | None
    secret: str
    headers: dict[str, str]
    max_attempts: int
    backoff_base: float
    backoff_max: float
    timeout: float
    enabled: bool
    created_at: str

    @classmethod
    def from_row(cls, r: rows.WebhookRow) -> Webhook:
        """The stored row as a record (the same fields; events as a set)."""
        fields = dataclasses.asdict(r)
        fields["events"] = frozenset(r.events) if r.events is not None else None
        return cls(**fields)

    def row(self) -> rows.WebhookRow:
        fields = dataclasses.asdict(self)
        fields["events"] = sorted(self.events) if self.events is not None else None
        return rows.WebhookRow(**fields)

    def spec(self) -> dict[str, Any]:
        """The configuration as a :class:`WebhookIn` body (no secret): the base a PATCH merges
        into."""
        return {
            "url": self.url,
            "events": sorted(self.events) if self.events is not None else None,
            "headers": self.headers,
            "retry": {
                "max_attempts": self.max_attempts,
                "backoff_base": self.backoff_base,
                "backoff_max": self.backoff_max,
            },
            "timeout": self.timeout,
            "enabled": self.enabled,
        }

    def apply(self, spec: WebhookIn) -> None:
        """Take every setting of a validated body except the url (checked by the caller); a
        secret only when one is given."""
        self.events = frozenset(spec.events) if spec.events is not None else None
        if spec.secret:
            self.secret = spec.secret
        self.headers = dict(spec.headers)
        self.max_attempts = spec.retry.max_attempts
        self.backoff_base = spec.retry.backoff_base
        self.backoff_max = max(spec.retry.backoff_max, spec.retry.backoff_base)
        self.timeout = spec.timeout
        self.enabled = spec.enabled

    def matches(self, ev: dict[str, Any]) -> bool:
        if self.client is not None and ev["client"] != self.client:
            return False
        return self.events is None or ev["event"] in self.events

    def backoff(self, attempt: int) -> float:
        """Delay before the attempt after ``attempt``: exponential, capped, jittered (50-100%)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** min(attempt - 1, 30)))
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def retry_horizon(self) -> float:
        """Seconds after which a still-pending row can no longer be a retry in progress."""
        span = sum(
            min(self.backoff_max, self.backoff_base * (2 ** min(a - 1, 30)))
            for a in range(1, self.max_attempts)
        )
        return max(PENDING_HORIZON_FLOOR, 2 * (span + self.max_attempts * self.timeout))

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client": self.client,
            "url": self.url,
            "events": sorted(self.events) if self.events is not None else None,
            "headers": {name: "***" for name in self.headers},  # values may be credentials
            "retry": {
                "max_attempts": self.max_attempts,
                "backoff_base": self.backoff_base,
                "backoff_max": self.backoff_max,
            },
            "timeout": self.timeout,
            "enabled": self.enabled,
            "created_at": self.created_at,
        }
