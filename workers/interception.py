"""Requests of the page the worker answers or authenticates itself (CDP's Fetch domain).

Two uses: files the page fetches from the worker while it sends them (workers/media.py serves
them under a one-time URL prefix), and a proxy that asks for credentials (the worker answers its
407 from the launch options; the password never reaches a command line). Interception is on only
while one of them needs it: every intercepted request costs a round trip to the worker.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from loguru import logger

from workers.cdp import CdpError, Connection
from workers.page_rules import retrieve

# url -> (status, headers, body)
Handler = Callable[[str], Awaitable[tuple[int, dict[str, str], bytes]]]


class Interception:
    def __init__(self, conn: Connection, session: str, credentials: tuple[str, str] | None) -> None:
        self.conn = conn
        self.session = session
        self.credentials = credentials
        self.routes: dict[str, Handler] = {}
        self._answered: set[str] = set()  # auth challenges answered once already
        self._tasks: set[asyncio.Future[Any]] = set()
        conn.on("Fetch.requestPaused", self._paused, session)
        conn.on("Fetch.authRequired", self._auth, session)

    async def apply(self) -> None:
        """Intercept what the routes and the proxy need, nothing else."""
        if self.credentials is not None:
            patterns = [{"urlPattern": "*"}]
        else:
            patterns = [{"urlPattern": prefix + "*"} for prefix in self.routes]
        if not patterns:
            await self.conn.send("Fetch.disable", session=self.session)
            return
        params = {"patterns": patterns, "handleAuthRequests": self.credentials is not None}
        await self.conn.send("Fetch.enable", params, self.session)

    @asynccontextmanager
    async def route(self, prefix: str, handler: Handler) -> AsyncIterator[None]:
        """Answer requests under ``prefix`` with ``handler`` while the block runs."""
        try:
            self.routes[prefix] = handler
            await self.apply()
            yield
        finally:
            self.routes.pop(prefix, None)
            if not self.conn.closed.is_set():
                with contextlib.suppress(CdpError):  # the page went away: nothing to undo
                    await self.apply()

    def _paused(self, params: dict[str, Any]) -> None:
        request_id = params.get("requestId")
        request = params.get("request")
        url = request.get("url") if isinstance(request, dict) else None
        if not isinstance(request_id, str) or not isinstance(url, str):
            return
        handler = next((h for p, h in self.routes.items() if url.startswith(p)), None)
        self._keep(self._answer(request_id, url, handler))

    def _keep(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the background, held until done (the loop keeps weak references)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(retrieve)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, request_id: str, url: str, handler: Handler | None) -> None:
        try:
            if handler is None:
                await self.conn.send(
                    "Fetch.continueRequest", {"requestId": request_id}, self.session
                )
                return
            status, headers, body = await handler(url)
            await self.conn.send(
                "Fetch.fulfillRequest",
                {
                    "requestId": request_id,
                    "responseCode": status,
                    "responseHeaders": [{"name": k, "value": v} for k, v in headers.items()],
                    "body": base64.b64encode(body).decode(),
                },
                self.session,
            )
        except CdpError as exc:  # the request was cancelled, or the page went away
            logger.debug("intercepted request not answered: {}", exc)
        except Exception:
            logger.exception("intercepted request failed")
            await self._fail(request_id)

    async def _fail(self, request_id: str) -> None:
        try:
            params = {"requestId": request_id, "errorReason": "Failed"}
            await self.conn.send("Fetch.failRequest", params, self.session)
        except CdpError:
            pass

    def _auth(self, params: dict[str, Any]) -> None:
        request_id = params.get("requestId")
        challenge = params.get("authChallenge")
        if not isinstance(request_id, str):
            return
        source = challenge.get("source") if isinstance(challenge, dict) else None
        response: dict[str, str] = {"response": "CancelAuth"}
        # Once per request, and only to the proxy: a second 407 means the credentials are wrong
        # (answering again would loop), and a site's own prompt never gets the proxy password.
        if self.credentials is not None and source == "Proxy" and request_id not in self._answered:
            self._answered.add(request_id)
            user, password = self.credentials
            response = {"response": "ProvideCredentials", "username": user, "password": password}
        elif source == "Proxy":
            logger.warning("the proxy refused the credentials")
        if len(self._answered) > 10_000:
            self._answered.clear()
        params = {"requestId": request_id, "authChallengeResponse": response}
        self._keep(self.conn.send("Fetch.continueWithAuth", params, self.session))
