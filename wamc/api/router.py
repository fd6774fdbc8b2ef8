"""aiohttp's router with two changes for the hot path: matches remembered, unmatched gated.

- aiohttp tries every route that shares a path prefix in order (46 share ``/api/clients``:
  a coroutine and a regular expression each); a match found is remembered by method and path
  (its route and the path's parts), so the next request for that path costs a dict lookup.
  Exact: which route matches a path and method first, and the parts it takes from the path,
  depend on nothing else, and the table is frozen once the app runs. Bounded: ``REMEMBERED``
  entries, forgotten all at once when full (paths carry ids).
- A request no route matches (404, 405) goes through the gate (wamc/api/middleware.py) like
  any other, so it is authenticated, audited, counted and answered as a problem.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.web_urldispatcher import (
    AbstractRoute,
    MatchInfoError,
    UrlDispatcher,
    UrlMappingMatchInfo,
)

REMEMBERED = 4096

Handler = Callable[[web.Request], object]


class Unmatched(MatchInfoError):
    """aiohttp's 404/405 match, answered by ``gate`` (which raises the exception into the
    problem mapping)."""

    __slots__ = ("_gated",)

    def __init__(self, error: MatchInfoError, gate: Callable[[Handler], Handler]) -> None:
        super().__init__(error.http_exception)
        self._gated = gate(self.route.handler)

    @property
    def handler(self) -> Handler:  # type: ignore[override]  # the gated handler, same shape
        return self._gated


class Router(UrlDispatcher):
    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[tuple[str, str], tuple[AbstractRoute, dict[str, str]]] = {}
        self.gate_unmatched: Callable[[Handler], Handler] | None = None  # set by the app

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        key = (request.method, request.rel_url.path_safe)
        seen = self._seen.get(key)
        if seen is not None:
            return UrlMappingMatchInfo(dict(seen[1]), seen[0])  # a fresh one: aiohttp adds to it
        match = await super().resolve(request)
        if isinstance(match, MatchInfoError):
            if self.gate_unmatched is not None:
                return Unmatched(match, self.gate_unmatched)
            return match
        if len(self._seen) >= REMEMBERED:
            self._seen.clear()
        self._seen[key] = (match.route, dict(match))
        return match
