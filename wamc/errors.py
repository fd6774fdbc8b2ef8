"""Domain refusals: a stable machine-readable code, a human detail, the field at fault.

Raised by the daemon, security, webhooks and validation code, which know nothing of HTTP. The
API edge (wamc/api/problems.py) gives every code its status and title and renders the answer;
``retry_after`` becomes its ``Retry-After`` header.
"""

from __future__ import annotations

import math

# The vocabulary: every code a refusal (and so an API answer) can carry.
CODES: tuple[str, ...] = (
    "invalid_json",
    "invalid_field",
    "invalid_client_id",
    "invalid_chat_id",
    "invalid_parameter",
    "unauthorized",
    "forbidden",
    "client_not_found",
    "not_found",
    "method_not_allowed",
    "not_connected",
    "no_qr",
    "client_busy",
    "client_limit",
    "idempotency_conflict",
    "token_not_found",
    "webhook_not_found",
    "webhook_url_refused",
    "upgrade_required",
    "rate_limited",
    "send_queue_full",
    "too_many_streams",
    "payload_too_large",
    "whatsapp_error",
    "worker_unavailable",
    "worker_timeout",
    "shutting_down",
    "internal_error",
    # messaging breadth (issue 11): replies, reactions, edits, deletes, other kinds
    "invalid_message_id",
    "message_not_found",
    "chat_not_found",
    "not_own_message",
    "edit_window_passed",
    # contacts, numbers and groups (issue 11)
    "contact_not_found",
    "not_group_admin",
    # media (issue 11)
    "unsupported_media_type",
    "media_gone",
    "not_on_whatsapp",
    # per-client settings (issue 11): the outbound proxy
    "invalid_proxy",
    "proxy_auth_unsupported",
    # scale-out (issue 14): nodes of the Ray backend
    "node_not_found",
    "node_unavailable",
    "no_capacity",
    "not_clustered",
)
_KNOWN = frozenset(CODES)


class Refused(Exception):
    """A request the gateway will not (or cannot) carry out. An empty ``detail`` means "no more
    to say than the code's title"; ``retry_after`` is whole seconds, at least 1, or None."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        if code not in _KNOWN:
            raise KeyError(code)  # a typo in a raise site is a bug, caught by the first test
        super().__init__(detail or code)
        self.code = code
        self.detail = detail
        self.field = field
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))


class Throttled(Refused):
    """A refusal that will succeed later: try again after ``retry_after`` seconds."""

    def __init__(self, code: str, detail: str, retry_after: float) -> None:
        super().__init__(code, detail, retry_after=retry_after)
