"""Idempotent sends: an ``Idempotency-Key`` on a send stores the first answer; a repeat returns
it and sends nothing (a repeat while the first is still in flight waits for it). Answers are
kept 24 hours."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wamc.errors import Refused
from wamc.storage import Database
from wamc.storage import idempotency as answers
from wamc.timeutil import iso_from_unix, utc_now_iso

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
IDEMPOTENCY_TTL = 24 * 3600  # seconds a first answer is kept


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Idempotency:
    """First answers of keyed sends, per client: in SQLite (survives a restart) and in flight."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._inflight: dict[tuple[str, str], asyncio.Future[tuple[int, dict[str, Any]]]] = {}

    @staticmethod
    def check_key(key: str) -> str:
        if not IDEMPOTENCY_KEY.match(key):
            raise Refused(
                "invalid_parameter",
                "Idempotency-Key must be 1-128 printable ASCII characters",
                field="Idempotency-Key",
            )
        return key

    async def run(
        self,
        client: str,
        key: str,
        rhash: str,
        call: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, body, replayed). Only successful answers are kept: a failure may be retried."""
        slot = (client, key)
        while slot in self._inflight:
            first = self._inflight[slot]
            with contextlib.suppress(Exception):  # the first try failed: this one may go ahead
                await asyncio.shield(first)
        stored = await answers.stored(self.db, client, key)
        if stored is not None:
            if stored[0] != rhash:
                raise Refused(
                    "idempotency_conflict",
                    "this Idempotency-Key was used for a different request",
                    field="Idempotency-Key",
                )
            return stored[1], stored[2], True
        fut: asyncio.Future[tuple[int, dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._inflight[slot] = fut
        try:
            status, body = await call()
            cutoff = iso_from_unix(time.time() - IDEMPOTENCY_TTL) or ""  # never None for a time
            await answers.save(self.db, client, key, rhash, (status, body), utc_now_iso(), cutoff)
            fut.set_result((status, body))
            return status, body, False
        except BaseException as exc:
            fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            fut.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            del self._inflight[slot]

    async def forget_client(self, client: str) -> None:
        await answers.forget_client(self.db, client)
