"""ISO 8601 UTC timestamps, the only time format the API speaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_unix(seconds: float | int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_days_ago(days: float, now: float | None = None) -> str:
    """The ISO 8601 UTC time ``days`` before ``now`` (unix seconds; default: now)."""
    moment = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    return (moment - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
