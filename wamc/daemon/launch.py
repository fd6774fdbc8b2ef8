"""A worker's browser launch options from its client's settings (issue 11: the proxy), read at
each spawn: a settings change applies at the next browser start."""

from __future__ import annotations

from wamc.storage import client_settings as settings_rows
from wamc.storage.db import Database
from wamc.validation.proxy import parse_proxy
from wamc.wire.launch import BrowserProxy, LaunchOptions


async def launch_options(store: Database, client_id: str) -> LaunchOptions:
    """The options for ``client_id``'s next worker; ``Refused`` when its stored proxy no longer
    passes the checks (the worker is then not started without it: no silent direct route)."""
    own = await settings_rows.get(store, client_id)
    if own.proxy is None:
        return LaunchOptions()
    proxy = parse_proxy(own.proxy)
    return LaunchOptions(
        proxy=BrowserProxy(server=proxy.server, username=proxy.username, password=proxy.password)
    )
