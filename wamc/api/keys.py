"""The typed application keys of the API: what the factory puts in the app, handlers read.

A module of its own so that handlers, middleware and the factory all import their keys from
here and never from each other (no import circle).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from wamc.api.metrics import Metrics
from wamc.api.scrape import DaemonCollector
from wamc.api.spec import Route
from wamc.api.streams import Streams
from wamc.config import Settings
from wamc.daemon import ClientManager
from wamc.events import EventBus
from wamc.security import (
    ApiLimiter,
    AuditLog,
    AuthFailureLimiter,
    Idempotency,
    SendPacer,
    StreamTickets,
    Tokens,
)
from wamc.storage import Database
from wamc.webhooks import WebhookService

SETTINGS = web.AppKey("settings", Settings)
MANAGER = web.AppKey("manager", ClientManager)
BUS = web.AppKey("bus", EventBus)
STORE = web.AppKey("store", Database)
API_KEY = web.AppKey("api_key", str)
STARTED_AT = web.AppKey("started_at", str)
TOKENS = web.AppKey("tokens", Tokens)
LIMITER = web.AppKey("limiter", ApiLimiter)
PACER = web.AppKey("pacer", SendPacer)
NUMBER_LOOKUPS = web.AppKey("number_lookups", ApiLimiter)  # per client: GET …/numbers/{phone}
IDEMPOTENCY = web.AppKey("idempotency", Idempotency)
AUDIT = web.AppKey("audit", AuditLog)
WEBHOOKS = web.AppKey("webhooks", WebhookService)
STREAMS = web.AppKey("streams", Streams)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailureLimiter)
PROXIES = web.AppKey("trusted_proxies", tuple)
TICKETS = web.AppKey("tickets", StreamTickets)
STOP = web.AppKey("stop", asyncio.Event)  # set by POST /api/shutdown
FULL_STOP = web.AppKey("full_stop", bool)  # the shutdown also stops every worker
ROUTE_TABLE = web.AppKey("route_table", tuple)  # the Route entries the router was built from
ROUTE_OF = web.AppKey("route_of", dict[AbstractRoute, Route])  # aiohttp route → its entry
METRICS = web.AppKey("metrics", Metrics)  # GET /metrics: the registry and its live counters
SCRAPE = web.AppKey("scrape", DaemonCollector)  # GET /metrics: what is read at scrape time
