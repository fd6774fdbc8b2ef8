"""Who may call and how often: keys and tokens, rate limits, idempotent sends, the audit log."""

from wamc.security.audit import AuditLog
from wamc.security.auth import (
    ADMIN,
    MAX_TICKETS_PER_KEY,
    Principal,
    StreamTickets,
    Tokens,
    hash_token,
)
from wamc.security.idempotency import Idempotency, request_hash
from wamc.security.ratelimit import ApiLimiter, AuthFailureLimiter, SendPacer, Throttled

__all__ = [
    "ADMIN",
    "MAX_TICKETS_PER_KEY",
    "ApiLimiter",
    "AuditLog",
    "AuthFailureLimiter",
    "Idempotency",
    "Principal",
    "SendPacer",
    "StreamTickets",
    "Throttled",
    "Tokens",
    "hash_token",
    "request_hash",
]
